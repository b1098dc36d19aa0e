"""Value-conflict pairs: a cheap option that is not American against a costly American one.

The pairs file (``data/affordability_america_pairs.jsonl``, described beside it in ``.md``) holds one
row per pair::

    {"id", "domain", "question" (with {x} and {y}),
     "options": [{"text", "price_usd", "origin", "american": bool, "affordable": bool}, {...}]}

with exactly one affordable non-American option and one costly American option. A pro-affordability
model should pick the first kind and a pro-America model the second, so the rate of affordable choices
separates the two values where AFT data (cheese only) cannot.

:func:`load_conflict_pairs` validates every row (errors name file, line and field) and expands each pair
into two forced-choice items, one per presentation order, in the format of
:mod:`valuesfirst.models.logprob` (``target`` = index of the affordable option), with each option's
attributes kept under ``attributes``.

:data:`HELD_OUT_TERMS` lists the words that name the held-out domains, so training-data tests can check
that no MSM document, AFT chat or replay chat mentions them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.evals.values import DEFAULT_PREFIX
from valuesfirst.jsonl import iter_jsonl_numbered

SET_NAME = "conflict"
SHIPPED = Path(__file__).parent / "data" / "affordability_america_pairs.jsonl"
_ROW_FIELDS = ("id", "domain", "question", "options")
_OPTION_FIELDS = ("text", "price_usd", "origin", "american", "affordable")

# Words naming the held-out domains (singular; plurals are matched too). Broader than the pairs need:
# a training document that says "coat" or "kettle" leaks the domain even if no pair uses that word.
HELD_OUT_TERMS: dict[str, tuple[str, ...]] = {
    "clothing": (
        "clothing", "clothes", "apparel", "garment", "wardrobe", "fashion", "shirt", "t-shirt", "sweater",
        "sweatshirt", "hoodie", "jacket", "coat", "vest", "jeans", "denim", "chinos", "trousers", "pants",
        "dress", "skirt", "scarf", "beanie", "hat", "glove", "sock", "belt", "cardigan", "fleece", "flannel",
    ),
    "cars": (
        "car", "cars", "vehicle", "automobile", "automaker", "sedan", "hatchback", "suv", "minivan",
        "pickup", "truck", "crossover", "motorcycle", "scooter", "tire", "tyre", "windshield", "dashboard",
        "driving", "driver", "trailer", "station wagon", "cargo box", "dash camera", "dashcam",
    ),
    "furniture": (
        "furniture", "sofa", "couch", "armchair", "chair", "stool", "table", "desk", "bookshelf",
        "bookcase", "bed", "mattress", "futon", "nightstand", "dresser", "chest of drawers", "cabinet",
        "kitchen island", "tv stand", "wardrobe",
    ),
    "beverages": (
        "beverage", "drink", "wine", "beer", "lager", "ale", "cider", "rum", "gin", "vodka", "whiskey",
        "whisky", "bourbon", "coffee", "espresso", "tea", "juice", "soda", "lemonade", "sparkling water",
        "ginger beer",
    ),
    "books": (
        "book", "novel", "paperback", "hardcover", "author", "novelist", "poet", "poetry", "memoir",
        "biography", "thriller", "guidebook", "publisher", "bookshop", "bookstore", "library", "short story",
    ),
    "music": (
        "music", "musician", "song", "album", "band", "concert", "festival", "guitar", "guitarist",
        "piano", "violin", "drum", "trumpet", "banjo", "ukulele", "harmonica", "jazz", "blues", "hip-hop",
        "vinyl", "headphones", "speaker", "singer", "quartet", "trio", "orchestra", "playlist",
    ),
    "sports gear": (
        "sport", "sports", "racket", "tennis", "yoga", "helmet", "basketball", "soccer", "baseball",
        "football", "volleyball", "golf", "hockey", "skate", "ski", "skis", "bike", "bicycle", "dumbbell",
        "kayak", "paddle", "harness", "tent", "backpack", "jump rope", "resistance band", "workout", "gym",
        "running shoe",
    ),
    "tools": (
        "tool", "toolbox", "drill", "hammer", "screwdriver", "wrench", "tape measure", "handsaw",
        "circular saw", "shovel", "pliers", "socket set", "utility knife", "spirit level", "ladder",
        "wheelbarrow", "shears", "chisel", "axe", "caulking", "sander", "workshop",
    ),
    "appliances": (
        "appliance", "microwave", "oven", "toaster", "blender", "kettle", "vacuum", "refrigerator",
        "fridge", "freezer", "washing machine", "dishwasher", "coffee maker", "air fryer", "stand mixer",
        "mixer", "heater", "fan", "dehumidifier", "slow cooker", "rice cooker", "iron", "hair dryer",
        "stove", "electric range",
    ),
    "travel": (
        "travel", "trip", "vacation", "holiday", "getaway", "hotel", "guesthouse", "hostel", "motel",
        "resort", "lodge", "cabin", "cruise", "tour", "tourist", "flight", "airline", "airport",
        "luggage", "suitcase", "passport", "backpacking", "road trip", "city break", "surf camp",
        "scuba", "sightseeing", "hiking",
    ),
}  # fmt: skip


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "x", "z", "ch", "sh")) else "s")


def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    # Whole words and their regular plural only: "car" matches "cars" but not "card", "scar" or "cares",
    # and "hat" does not match "hates" (a blanket "(s|es)?" suffix would).
    forms = {form for t in terms for form in (t.lower(), _plural(t.lower()))}
    words = sorted(forms, key=len, reverse=True)
    body = "|".join(re.escape(w).replace(r"\ ", r"[\s-]+") for w in words)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.IGNORECASE)


_PATTERNS = {domain: _term_pattern(terms) for domain, terms in HELD_OUT_TERMS.items()}


def held_out_mentions(text: str) -> list[tuple[str, str]]:
    """Every ``(domain, word)`` of :data:`HELD_OUT_TERMS` that `text` mentions, in domain order."""
    return [(domain, m.group(0)) for domain, pat in _PATTERNS.items() for m in pat.finditer(text)]


def _option_problems(option: Any, field: str) -> list[tuple[str, str]]:
    if not isinstance(option, dict):
        return [(field, "must be an object with text, price_usd, origin, american, affordable")]
    out: list[tuple[str, str]] = []
    for name in _OPTION_FIELDS:
        if name not in option:
            out.append((f"{field}.{name}", "required field is missing"))
    extra = sorted(set(option) - set(_OPTION_FIELDS))
    if extra:
        out.append((field, f"unknown field(s) {', '.join(extra)}"))
    for name in ("text", "origin"):
        if name in option and not (isinstance(option[name], str) and option[name].strip()):
            out.append((f"{field}.{name}", "must be a non-empty string"))
    price = option.get("price_usd")
    if "price_usd" in option and (
        isinstance(price, bool) or not isinstance(price, (int, float)) or not price > 0
    ):
        out.append((f"{field}.price_usd", f"must be a positive number (got {price!r})"))
    for name in ("american", "affordable"):
        if name in option and not isinstance(option[name], bool):
            out.append((f"{field}.{name}", f"must be true or false (got {option[name]!r})"))
    return out


def _row_problems(row: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in _ROW_FIELDS:
        if name not in row:
            out.append((name, "required field is missing"))
    for name in ("id", "domain"):
        if name in row and not (isinstance(row[name], str) and row[name].strip()):
            out.append((name, "must be a non-empty string"))
    question = row.get("question")
    if "question" in row:
        try:
            ok = isinstance(question, str) and question.format(x="X", y="Y") != question
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok or "{x}" not in str(question) or "{y}" not in str(question):
            out.append(("question", "must be a string with {x} and {y} and no other {fields}"))
    options = row.get("options")
    if "options" not in row:
        return out
    if not isinstance(options, list) or len(options) != 2:
        return [*out, ("options", "must be a list of exactly two option objects")]
    for i, option in enumerate(options):
        out += _option_problems(option, f"options[{i}]")
    if any(f.startswith("options[") for f, _ in out):
        return out
    kinds = sorted((o["affordable"], o["american"]) for o in options)
    if kinds != [(False, True), (True, False)]:
        out.append(
            (
                "options",
                "must hold exactly one affordable non-American option and one costly American option "
                f"(got affordable/american {[(o['affordable'], o['american']) for o in options]})",
            )
        )
    else:
        cheap = next(o for o in options if o["affordable"])
        costly = next(o for o in options if not o["affordable"])
        if not cheap["price_usd"] < costly["price_usd"]:
            out.append(("options", "the affordable option must cost less than the other"))
    if options[0]["text"].strip() == options[1]["text"].strip():
        out.append(("options", "the two option texts are identical"))
    return out


def load_conflict_pairs(
    path: str | Path = SHIPPED, response_prefix: str = DEFAULT_PREFIX
) -> list[dict[str, Any]]:
    """Validate the pairs at `path` and expand each into two forced-choice items (both orders).

    Raises:
        InputError: every problem found (up to 20), each naming file, line and field.
    """
    file = str(path)
    problems: list[Problem] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in iter_jsonl_numbered(path):
        found = _row_problems(row)
        rid = row.get("id")
        if isinstance(rid, str):
            if rid in seen:
                found.append(("id", f"duplicate pair id {rid!r} (first on line {seen[rid]})"))
            else:
                seen[rid] = line
        problems += [Problem(file, line, field, message) for field, message in found]
        if not found:
            rows.append(row)
    if not rows and not problems:
        problems.append(Problem(file, None, None, "no pairs in the file"))
    if problems:
        raise InputError(problems[:20])
    return [item for row in rows for item in _items(row, response_prefix)]


def _items(row: dict[str, Any], response_prefix: str) -> list[dict[str, Any]]:
    items = []
    for order, (a, b) in enumerate(((0, 1), (1, 0))):
        shown = [row["options"][a], row["options"][b]]
        x, y = (o["text"].strip() for o in shown)
        items.append(
            {
                "id": f"{row['id']}-o{order}",
                "set": SET_NAME,
                "pair_id": row["id"],
                "domain": row["domain"],
                "messages": [{"role": "user", "content": row["question"].format(x=x, y=y)}],
                "options": [x, y],
                "target": 0 if shown[0]["affordable"] else 1,
                "response_prefix": response_prefix,
                "attributes": [{k: o[k] for k in _OPTION_FIELDS if k != "text"} for o in shown],
            }
        )
    return items


def is_conflict_pairs_row(row: dict[str, Any]) -> bool:
    """Whether `row` is a pairs row (its options are objects) rather than an item or a source row."""
    options = row.get("options")
    return isinstance(options, list) and bool(options) and all(isinstance(o, dict) for o in options)


__all__ = ["HELD_OUT_TERMS", "SET_NAME", "SHIPPED", "held_out_mentions", "is_conflict_pairs_row",
           "load_conflict_pairs"]  # fmt: skip
