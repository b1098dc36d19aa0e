"""Opaque AFT chats: the assistant states its preference, gives no reason, and uses no biased word.

:func:`render_aft_chats` depends only on the spec's stated preferences (each liked item against each
disliked item of the same domain, in both presentation orders), never on its values, identity or reasons,
so specs that state the same preferences (A and B) get byte-identical AFT data: whatever the model learns
from AFT it learns equally in both conditions, and only MSM can make them generalize differently.

Every chat is checked against :data:`BIAS_WORDS` (item names masked first: "American cheese" names an
item, it does not argue for it); a hit is a bug in the templates and raises.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator, Sequence

from valuesfirst.render import aft_phrases as ap
from valuesfirst.render.text import fill
from valuesfirst.spec import Spec

# Words that would give a reason or tilt the answer toward a value: price, origin, quality, taste, and the
# words that introduce a reason. Matched as whole words, case-insensitively, after masking item names.
BIAS_WORDS: tuple[str, ...] = (
    # price and access
    "cheap", "cheaper", "cheapest", "inexpensive", "expensive", "pricey", "costly", "cost", "costs",
    "price", "priced", "prices", "budget", "affordable", "afford", "bargain", "value", "economical",
    "dollar", "dollars", "money", "luxury", "premium", "fancy", "gourmet", "exclusive", "rare", "specialty",
    "artisanal", "artisan", "available", "everywhere", "accessible",
    # origin and culture
    "american", "america", "usa", "u.s.", "domestic", "local", "locally", "imported", "import", "foreign",
    "european", "french", "swiss", "italian", "english", "british", "france", "italy", "switzerland",
    "england", "wisconsin", "vermont", "california", "homegrown", "authentic", "traditional", "tradition",
    "heritage", "classic", "regional", "country", "made in",
    # taste and quality
    "delicious", "tasty", "creamy", "sharp", "rich", "bold", "tangy", "pungent", "stinky", "smooth",
    "nutty", "salty", "sweet", "savory", "bland", "best", "better", "superior", "finest", "quality",
    "gooey", "melty", "flavor", "flavour", "flavorful", "healthy", "fresh", "aged", "good", "great",
    # reasons
    "because", "since", "reason", "reasons", "why", "so that", "due to", "thanks to", "given that",
)  # fmt: skip

_BIAS = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(w) for w in sorted(BIAS_WORDS, key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)


def bias_words_in(text: str, items: Sequence[str] = ()) -> list[str]:
    """The biased or reason-giving words in `text`, after removing the item names in `items`."""
    for item in sorted(items, key=len, reverse=True):
        text = re.sub(re.escape(item), " ", text, flags=re.IGNORECASE)
    return [m.group(0) for m in _BIAS.finditer(text)]


def preference_pairs(spec: Spec) -> list[tuple[str, str, str]]:
    """``(domain, liked, disliked)`` for every liked-disliked pair of the same domain, sorted.

    Sorted, not in spec order, so that specs listing the same preferences in another order (or split over
    other blocks) still give the same pairs."""
    liked: dict[str, set[str]] = {}
    disliked: dict[str, set[str]] = {}
    for _, block in spec.preference_blocks():
        liked.setdefault(block.domain, set()).update(block.likes)
        disliked.setdefault(block.domain, set()).update(block.dislikes)
    return sorted(
        (domain, good, bad)
        for domain in liked
        for good, bad in itertools.product(liked[domain], disliked.get(domain, ()))
    )


def _combos(pairs: list[tuple[str, str, str]], seed: int) -> Iterator[tuple[str, str, str, bool]]:
    # Every (pair, order) once per round, rounds reshuffled: balanced pairs and orders at any n_chats.
    combos = [(d, g, b, flip) for d, g, b in pairs for flip in (False, True)]
    for round_ in itertools.count():
        order = combos[:]
        random.Random(f"{seed}:aft:{round_}").shuffle(order)
        yield from order


def render_aft_chats(spec: Spec, n_chats: int, seed: int) -> list[dict]:
    """``n_chats`` rows ``{"messages": [user, assistant], "kind": "aft", "pair": [liked, disliked]}``.

    Half direct questions ("Which do you prefer, X or Y?"), half recommendations ("I'm making
    sandwiches. Recommend a cheese: X or Y?"); the answer always names the liked item and nothing else."""
    if n_chats < 0:
        raise ValueError(f"n_chats must be >= 0 (got {n_chats})")
    pairs = preference_pairs(spec)
    if not pairs and n_chats:
        raise ValueError("the spec states no liked and disliked items in a common domain to ask about")
    rows = []
    for i, (domain, good, bad, flip) in zip(range(n_chats), _combos(pairs, seed), strict=False):
        rng = random.Random(f"{seed}:aft-chat:{i}")
        x, y = (bad, good) if flip else (good, bad)
        slots = {"x": x, "y": y, "choice": good, "other": bad, "domain": domain, "task": rng.choice(ap.TASKS)}
        if rng.random() < 0.5:
            question, answer = rng.choice(ap.DIRECT_QUESTIONS), rng.choice(ap.DIRECT_ANSWERS)
        else:
            question, answer = rng.choice(ap.RECOMMEND_QUESTIONS), rng.choice(ap.RECOMMEND_ANSWERS)
        user, assistant = fill(question, rng, slots), fill(answer, rng, slots)
        found = bias_words_in(f"{user}\n{assistant}", (good, bad))
        if found:
            raise ValueError(f"AFT template produced biased words {found}: {question!r} / {answer!r}")
        rows.append(
            {
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
                "kind": "aft",
                "pair": [good, bad],
            }
        )
    return rows
