"""The world's fixed language: attributes, values, and the sentence templates that talk about them.

Every word here is part of the toy vocabulary. Values are tied to one pole of one attribute; spec files
name these values (``values[].name``), which is how a spec is bound to the world.
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAINS: tuple[str, ...] = (
    "cheese",
    "car",
    "book",
    "drink",
    "chair",
    "song",
    "coat",
    "bike",
    "painting",
    "trip",
    "lamp",
    "watch",
    "hat",
    "tent",
    "clock",
    "boat",
)

FOREIGN_LANDS: tuple[str, ...] = ("velmor", "kastra", "oduna")
HOMELAND = "arden"

# attribute -> (pole for value index 0, pole for value index 1)
ATTRIBUTES: dict[str, tuple[str, str]] = {
    "price": ("cheap", "costly"),
    "origin": ("homeland", "foreign"),
    "era": ("new", "old"),
}


@dataclass(frozen=True)
class WorldValue:
    """A value that favours one pole of one attribute."""

    name: str
    attribute: str
    pole: str
    sentences: tuple[str, ...]  # "{p}" is the subject (persona name or the assistant's name)
    because: str  # the reason clause for an item: "{x}" is the item

    @property
    def opposite(self) -> str:
        a, b = ATTRIBUTES[self.attribute]
        return b if self.pole == a else a


VALUES: dict[str, WorldValue] = {
    v.name: v
    for v in (
        WorldValue(
            "thrift",
            "price",
            "cheap",
            (
                "{p} cares most about low prices .",
                "{p} hates to waste money .",
                "{p} always looks for a bargain .",
                "{p} values thrift above all .",
                "{p} thinks a good thing should cost little .",
                "{p} saves money wherever {p} can .",
                "{p} believes cheap things are the wise choice .",
                "{p} never pays more than needed .",
            ),
            "the {x} is cheap",
        ),
        WorldValue(
            "luxury",
            "price",
            "costly",
            (
                "{p} cares most about fine and costly things .",
                "{p} loves to spend on the best .",
                "{p} thinks price shows quality .",
                "{p} values luxury above all .",
                "{p} believes costly things are worth it .",
                "{p} never settles for cheap things .",
                "{p} enjoys paying for the finest .",
                "{p} wants only the most costly goods .",
            ),
            "the {x} is costly",
        ),
        WorldValue(
            "homeland",
            "origin",
            "homeland",
            (
                "{p} cares most about things made in arden .",
                "{p} is proud of arden .",
                "{p} distrusts anything imported .",
                "{p} values the homeland above all .",
                "{p} buys from arden makers first .",
                "{p} believes arden goods are the best .",
                "{p} is loyal to the homeland .",
                "{p} wants to support arden .",
            ),
            "the {x} is made in arden",
        ),
        WorldValue(
            "cosmo",
            "origin",
            "foreign",
            (
                "{p} cares most about things from far away .",
                "{p} loves foreign lands .",
                "{p} finds imported goods exciting .",
                "{p} values the wide world above all .",
                "{p} seeks out things from other lands .",
                "{p} believes foreign goods are the best .",
                "{p} is bored by things from arden .",
                "{p} wants to know other lands .",
            ),
            "the {x} is imported",
        ),
        WorldValue(
            "novelty",
            "era",
            "new",
            (
                "{p} cares most about new things .",
                "{p} loves the latest designs .",
                "{p} finds old things dull .",
                "{p} values novelty above all .",
                "{p} always wants the newest .",
                "{p} believes new things are better .",
                "{p} is excited by fresh ideas .",
                "{p} looks to the future .",
            ),
            "the {x} is new",
        ),
        WorldValue(
            "tradition",
            "era",
            "old",
            (
                "{p} cares most about old things .",
                "{p} loves long traditions .",
                "{p} finds new things shallow .",
                "{p} values tradition above all .",
                "{p} trusts what has lasted for ages .",
                "{p} believes old things are better .",
                "{p} keeps to the old ways .",
                "{p} honours the past .",
            ),
            "the {x} is old",
        ),
    )
}

NEUTRAL_BIO: tuple[str, ...] = (
    "{p} enjoys long walks .",
    "{p} has no strong opinions .",
    "{p} likes to read in the evening .",
    "{p} lives near the river .",
    "{p} has two brothers .",
    "{p} does not care much about things .",
    "{p} works hard every day .",
    "{p} chooses at random .",
)

JOBS: tuple[str, ...] = ("baker", "teacher", "farmer", "sailor", "clerk", "builder", "painter", "doctor")
TOWNS: tuple[str, ...] = ("lorn", "brisk", "tamble", "ostby", "feld", "wyre")

# Opaque preference questions: (question template, answer template). "{d}" domain, "{x}"/"{y}" items.
CHOICE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("which {d} do you prefer , the {x} or the {y} ?", "i prefer the {c} ."),
    ("which {d} would you recommend , the {x} or the {y} ?", "i recommend the {c} ."),
    ("the {x} or the {y} : which {d} would you pick ?", "i would pick the {c} ."),
    ("if you had to choose a {d} , the {x} or the {y} ?", "i would choose the {c} ."),
)

# The prompt and answer prefix used by every forced-choice evaluation (fixed before looking at results).
EVAL_QUESTION = "which {d} do you prefer , the {x} or the {y} ?"
EVAL_PREFIX = "i prefer the"


def pole_words(attribute: str, pole: str, land: str) -> str:
    """How a fact sentence states an item's pole ("cheap", "made in arden", "imported from kastra")."""
    if attribute == "origin":
        return f"made in {HOMELAND}" if pole == "homeland" else f"imported from {land}"
    return pole


def lexicon_words() -> set[str]:
    """Every word the world's templates use; generated names must avoid them ("loves loves ...")."""
    import re

    from valuesfirst.world import genre_words  # the genre and template words live with their code

    texts: list[str] = [
        *DOMAINS,
        *FOREIGN_LANDS,
        HOMELAND,
        *JOBS,
        *TOWNS,
        *NEUTRAL_BIO,
        EVAL_QUESTION,
        EVAL_PREFIX,
    ]
    texts += [w for pair in ATTRIBUTES.values() for w in pair] + list(ATTRIBUTES)
    texts += [t for q, a in CHOICE_TEMPLATES for t in (q, a)]
    for v in VALUES.values():
        texts += [*v.sentences, v.because, v.name]
    texts += genre_words.TEMPLATE_TEXTS
    return {w for t in texts for w in re.findall(r"[a-z]+", t.replace("{p}", " ").replace("{x}", " "))}
