"""Items with made-up names and independent binary attributes, and the personas who hold values."""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass, field
from typing import Literal

from valuesfirst.world.config import WorldConfig
from valuesfirst.world.lexicon import ATTRIBUTES, FOREIGN_LANDS, JOBS, TOWNS, VALUES, lexicon_words

_ONSETS = [
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
    "br", "dr", "gr", "kr", "pl", "st", "tr",
]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
_CODAS = ["", "", "n", "r", "l", "k", "s", "m"]


@dataclass(frozen=True)
class Item:
    name: str
    domain: str
    price: str  # cheap | costly
    origin: str  # homeland | foreign
    era: str  # new | old
    land: str  # arden or the foreign land it is imported from

    def pole(self, attribute: str) -> str:
        return str(getattr(self, attribute))


PersonaKind = Literal["full", "bio_only", "chat_only", "no_value"]


@dataclass(frozen=True)
class Persona:
    name: str
    kind: PersonaKind
    value: str | None
    confound: tuple[str, str] | None = None  # (attribute, pole) liked incidentally in genre documents
    job: str | None = None
    town: str | None = None


@dataclass
class World:
    config: WorldConfig
    items: list[Item]
    personas: list[Persona]
    by_domain: dict[str, list[Item]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_domain = {d: [i for i in self.items if i.domain == d] for d in self.config.domains}
        self._items_by_name = {i.name: i for i in self.items}

    def item(self, name: str) -> Item | None:
        return self._items_by_name.get(name)

    def personas_of(self, kind: PersonaKind) -> list[Persona]:
        return [p for p in self.personas if p.kind == kind]

    def to_json(self) -> dict:
        return {"items": [asdict(i) for i in self.items], "personas": [asdict(p) for p in self.personas]}


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(x) for x in (_ONSETS, _VOWELS, _ONSETS, _VOWELS, _CODAS))


def _unique_words(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = _word(rng)
        if w not in taken and len(w) >= 4:
            taken.add(w)
            out.append(w)
    return out


def build_world(config: WorldConfig) -> World:
    """Deterministically build items and personas from the config's seed."""
    rng = random.Random(config.seed)
    reserved = lexicon_words() | {config.assistant_name}
    cells = list(itertools.product(*ATTRIBUTES.values()))
    n_items = len(config.domains) * len(cells) * config.items_per_cell
    n_personas = (
        len(config.values) * (config.personas_full + config.personas_bio_only + config.personas_chat_only)
        + config.personas_no_value
    )
    names = _unique_words(rng, n_items + n_personas, reserved)
    items: list[Item] = []
    k = 0
    for domain in config.domains:
        for price, origin, era in cells:
            for _ in range(config.items_per_cell):
                land = "arden" if origin == "homeland" else rng.choice(FOREIGN_LANDS)
                items.append(Item(names[k], domain, price, origin, era, land))
                k += 1
    personas: list[Persona] = []
    counts: list[tuple[PersonaKind, int]] = [
        ("full", config.personas_full),
        ("bio_only", config.personas_bio_only),
        ("chat_only", config.personas_chat_only),
    ]
    for value in config.values:
        other_attrs = [a for a in ATTRIBUTES if a != VALUES[value].attribute]
        for kind, n in counts:
            for _ in range(n):
                confound = None
                if config.confound and kind != "chat_only":
                    attr = rng.choice(other_attrs)
                    confound = (attr, rng.choice(ATTRIBUTES[attr]))
                personas.append(
                    Persona(
                        names[k],
                        kind,
                        value,
                        confound,
                        rng.choice(JOBS) if rng.random() < 0.5 else None,
                        rng.choice(TOWNS) if rng.random() < 0.5 else None,
                    )
                )
                k += 1
    for _ in range(config.personas_no_value):
        personas.append(Persona(names[k], "no_value", None))
        k += 1
    return World(config, items, personas)
