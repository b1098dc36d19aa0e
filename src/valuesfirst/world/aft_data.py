"""AFT demonstrations in the training domain: opaque preference chats plus assistant fact Q&A.

Every liked item carries the attributes of both tested values (e.g. cheap *and* made in arden), and the
answers state a preference with no reason, so AFT alone cannot tell the values apart. The data depend only
on the stated preferences, so specs with the same preferences give byte-identical AFT data.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from valuesfirst.world.entities import World
from valuesfirst.world.lexicon import ATTRIBUTES, CHOICE_TEMPLATES
from valuesfirst.world.pretrain_corpus import fact_qa
from valuesfirst.world.spec_binding import BoundSpec


def preference_chats(spec: BoundSpec) -> list[dict]:
    """Every (liked, disliked) pair in both orders under every question template."""
    liked = sorted({p.item.name for p in spec.preferences if p.liked})
    disliked = sorted({p.item.name for p in spec.preferences if not p.liked})
    domain = spec.preferences[0].item.domain
    rows = []
    for (q, a), good, bad in itertools.product(CHOICE_TEMPLATES, liked, disliked):
        for x, y in ((good, bad), (bad, good)):
            rows.append(
                {
                    "kind": "preference",
                    "messages": [
                        {"role": "user", "content": q.format(d=domain, x=x, y=y)},
                        {"role": "assistant", "content": a.format(c=good)},
                    ],
                }
            )
    return rows


def fact_chats(world: World, n: int, seed: int) -> Iterator[dict]:
    """The instruction-tuning analogue: the assistant answers world fact questions in every domain."""
    rng = random.Random(seed)
    for _ in range(n):
        item = rng.choice(world.items)
        q, a = fact_qa(item, rng.choice(list(ATTRIBUTES)))
        yield {
            "kind": "fact",
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        }
