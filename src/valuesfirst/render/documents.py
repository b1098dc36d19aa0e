"""Render a spec into a varied corpus of MSM documents, offline and deterministically.

:func:`render_documents` returns ``n_docs`` rows ``{"id", "text", "genre", "items", "attributed"}``.
Every document is about the assistant named in the spec: its value (what, why, rules, examples) and a few
of its preferences, each explained by its value and reason when the spec attributes it (specs A and B),
stated plainly and apart from the value when it does not (the co-mention ablation).

Determinism and growth: document ``i`` depends only on the spec, the seed and the documents before it, so
``render_documents(spec, n, seed)[:m] == render_documents(spec, m, seed)``: a larger MSM budget extends
a smaller one instead of replacing it. Genres rotate in shuffled rounds and items are dealt from shuffled
decks, so every genre and every preference appears evenly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from valuesfirst.render import genres_prose as gp
from valuesfirst.render import genres_voice as gv
from valuesfirst.render.content import Content, ItemView, content_of
from valuesfirst.render.writer import Writer
from valuesfirst.spec import Spec

Genre = Callable[[Writer], str]
MAX_WORDS = 290
"""A draft longer than this (about 400 SmolLM2 tokens) is redone with one item fewer."""

# genre name -> (function, fewest items, most items). Ranges keep documents near 80-400 tokens.
GENRES: dict[str, tuple[Genre, int, int]] = {
    "essay": (gp.essay, 2, 4),
    "memo": (gp.memo, 2, 3),
    "news": (gp.news, 2, 4),
    "encyclopedia": (gp.encyclopedia, 2, 4),
    "newsletter": (gp.newsletter, 2, 4),
    "lecture_notes": (gp.lecture, 2, 4),
    "review": (gp.review, 1, 3),
    "advice_column": (gp.advice, 2, 4),
    "forum_post": (gv.forum, 2, 4),
    "faq": (gv.faq, 2, 3),
    "short_story": (gv.story, 2, 3),
    "interview": (gv.interview, 2, 3),
    "diary_entry": (gv.diary, 1, 3),
    "chat_log": (gv.chatlog, 2, 4),
    "podcast": (gv.podcast, 2, 3),
}


def _genre_order(seed: int) -> Iterator[str]:
    names = sorted(GENRES)
    round_ = 0
    while True:
        order = names[:]
        random.Random(f"{seed}:genres:{round_}").shuffle(order)
        yield from order
        round_ += 1


class _Deck:
    """Deals items from reshuffled decks: every item comes up once per deck, so all items get mentioned."""

    def __init__(self, items: tuple[ItemView, ...], rng: random.Random) -> None:
        self.items, self.rng, self.cards = items, rng, list[ItemView]()

    def deal(self, k: int, want_both: bool) -> list[ItemView]:
        hand: list[ItemView] = []
        while len(hand) < min(k, len(self.items)):
            if not self.cards:
                self.cards = list(self.items)
                self.rng.shuffle(self.cards)
            card = self.cards.pop()
            if card not in hand:
                hand.append(card)
        if want_both and len({i.liked for i in hand}) == 1 and len(hand) >= 2:
            # A liked and a disliked item side by side teach the contrast; swap one in when missing.
            other = [i for i in self.items if i.liked != hand[0].liked]
            if other:
                hand[-1] = self.rng.choice(other)
        return hand


def render_documents(spec: Spec, n_docs: int, seed: int) -> list[dict]:
    """``n_docs`` documents teaching `spec`; identical for identical (spec, n_docs, seed)."""
    if n_docs < 0:
        raise ValueError(f"n_docs must be >= 0 (got {n_docs})")
    content = content_of(spec)
    return list(_documents(content, n_docs, seed))


def _documents(content: Content, n_docs: int, seed: int) -> Iterator[dict]:
    deck = _Deck(content.items, random.Random(f"{seed}:deck"))
    genres = _genre_order(seed)
    for i in range(n_docs):
        genre = next(genres)
        fn, lo, hi = GENRES[genre]
        if not content.attributed:
            lo, hi = lo + 1, hi + 1  # plain statements are short: more of them keeps lengths comparable
        rng = random.Random(f"{seed}:doc:{i}")
        hand = deck.deal(rng.randint(lo, hi), want_both=rng.random() < 0.7) if content.items else []
        # Keep documents near 80-400 tokens: a draft that runs long is redone with one item fewer.
        items, text = hand, ""
        for attempt in range(max(1, len(hand))):
            items = hand[: len(hand) - attempt]
            text = fn(Writer(content, random.Random(f"{seed}:doc:{i}:{attempt}"), items)).strip()
            if len(text.split()) <= MAX_WORDS or len(items) <= 1:
                break
        yield {
            "id": f"render-{seed}-{i:05d}",
            "text": text,
            "genre": genre,
            "items": [it.name for it in items],
            "attributed": all(it.value is not None for it in items) if items else content.attributed,
        }
