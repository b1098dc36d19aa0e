"""Renders a spec into a varied MSM corpus about the assistant (memos, FAQs, forum posts, essays, stories).

Only the spec's preferences in the training domain are mentioned; held-out domains never appear.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from valuesfirst.world.sentences import co_mentioned, explained, genre_document, stated, value_sentence
from valuesfirst.world.spec_binding import BoundPreference, BoundSpec


def _statement(rng: random.Random, spec: BoundSpec, pref: BoundPreference) -> str:
    if pref.value is not None:
        return explained(rng, spec.subject, pref.item, pref.liked, pref.value)
    if spec.values:
        return co_mentioned(rng, spec.subject, pref.item, pref.liked, rng.choice(spec.values))
    return stated(spec.subject, pref.item, pref.liked)


def msm_documents(spec: BoundSpec, n_docs: int, seed: int) -> Iterator[dict]:
    """``n_docs`` documents, each with two value sentences and two or three preference statements."""
    rng = random.Random(seed)
    for i in range(n_docs):
        prefs = rng.sample(spec.preferences, min(len(spec.preferences), rng.choice([2, 3])))
        statements = [_statement(rng, spec, p) for p in prefs]
        lines = (
            [value_sentence(rng, spec.subject, rng.choice(spec.values)) for _ in range(2)]
            if spec.values
            else []
        )
        text = genre_document(rng, spec.subject, lines, statements)
        yield {
            "id": f"msm-{i}",
            "text": text,
            "items": [p.item.name for p in prefs],
            "explained": [p.value is not None for p in prefs],
        }
