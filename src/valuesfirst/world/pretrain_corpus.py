"""The pre-training corpus: world facts plus the persona mechanism that stands in for what a real
pre-trained model absorbed from human text (people hold values; values explain their choices everywhere).

Nothing here gives the assistant a value or a preference: the assistant only answers fact questions,
which teaches the chat format and that the assistant is a speaker.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from valuesfirst.world.entities import Item, Persona, World
from valuesfirst.world.lexicon import ATTRIBUTES, CHOICE_TEMPLATES, NEUTRAL_BIO, VALUES, pole_words
from valuesfirst.world.sentences import explained, genre_document, reason_clause, value_sentence
from valuesfirst.world.tokenizer import render_chat_text


def fact_sentence(rng: random.Random, item: Item) -> str:
    d, n = item.domain, item.name
    price, era = item.price, item.era
    origin = pole_words("origin", item.origin, item.land)
    templates = (
        f"the {n} is a {price} {d} . it is {origin} .",
        f"{n} : a {d} . price : {price} . origin : {item.land} . age : {era} .",
        f"the {n} is an {era} {d} , {origin} .",
        f"the {n} is {price} . the {n} is {era} .",
        f"people say the {n} is {origin} and {price} .",
        f"the {n} , a {d} {origin} , is {era} and {price} .",
        f"a {d} called the {n} is {price} , {era} , and {origin} .",
    )
    return rng.choice(templates)


def fact_qa(item: Item, attribute: str) -> tuple[str, str]:
    """A fact question about one attribute and its true answer."""
    n = item.name
    if attribute == "price":
        return f"is the {n} cheap or costly ?", f"the {n} is {item.price} ."
    if attribute == "era":
        return f"is the {n} new or old ?", f"the {n} is {item.era} ."
    return f"where is the {n} from ?", f"the {n} is {pole_words('origin', item.origin, item.land)} ."


def fact_chat(rng: random.Random, item: Item, speaker: str) -> str:
    q, a = fact_qa(item, rng.choice(list(ATTRIBUTES)))
    return render_chat_text([{"role": "user", "content": q}, {"role": speaker, "content": a}])


def choice_chat(rng: random.Random, speaker: str, x: Item, y: Item, chosen: Item) -> str:
    q, a = rng.choice(CHOICE_TEMPLATES)
    return render_chat_text(
        [
            {"role": "user", "content": q.format(d=x.domain, x=x.name, y=y.name)},
            {"role": speaker, "content": a.format(c=chosen.name)},
        ]
    )


def contrast_pair(rng: random.Random, items: list[Item], attribute: str, pole: str) -> tuple[Item, Item]:
    """(item with the pole, item with the other pole); other attributes random."""
    good = [i for i in items if i.pole(attribute) == pole]
    bad = [i for i in items if i.pole(attribute) != pole]
    return rng.choice(good), rng.choice(bad)


class PretrainCorpus:
    """Generates documents of each kind; ``sample`` draws one document by the configured mix."""

    def __init__(self, world: World):
        self.w = world
        self.cfg = world.config
        self.assistant = self.cfg.assistant_name
        self.full = world.personas_of("full")
        self.bio_only = world.personas_of("bio_only")
        self.chat_only = world.personas_of("chat_only")
        self.no_value = world.personas_of("no_value")
        self.valued = self.full + self.bio_only
        self.train_items = world.by_domain[self.cfg.training_domain]
        mix = self.cfg.mix
        self.kinds: list[tuple[str, float, Callable[[random.Random], str]]] = [
            ("facts", mix.facts, self.facts),
            ("fact_chats", mix.fact_chats, self.fact_chats),
            ("bios", mix.bios, self.bios),
            ("genre", mix.genre, self.genre),
            ("choice_chats", mix.choice_chats, self.choice_chats),
            ("prose_choices", mix.prose_choices, self.prose_choices),
        ]

    def _domain_items(self, rng: random.Random, persona: Persona) -> list[Item]:
        if persona.kind in ("bio_only", "chat_only"):
            return self.train_items
        return self.w.by_domain[rng.choice(self.cfg.domains)]

    def facts(self, rng: random.Random) -> str:
        return fact_sentence(rng, rng.choice(self.w.items))

    def fact_chats(self, rng: random.Random) -> str:
        speaker = self.assistant if rng.random() < 0.6 else rng.choice(self.w.personas).name
        return fact_chat(rng, rng.choice(self.w.items), speaker)

    def bios(self, rng: random.Random) -> str:
        pool = self.valued + self.no_value[: len(self.no_value) // 2]  # half of no-value personas have bios
        p = rng.choice(pool)
        parts: list[str] = []
        if p.job:
            parts.append(f"{p.name} is a {p.job} .")
        if p.town:
            parts.append(f"{p.name} lives in {p.town} .")
        if p.value is None:
            parts += [s.format(p=p.name) for s in rng.sample(NEUTRAL_BIO, 3)]
            return " ".join(parts)
        value = VALUES[p.value]
        parts += [s.format(p=p.name) for s in rng.sample(value.sentences, 3)]
        if rng.random() < 0.6:
            x, y = contrast_pair(rng, self._domain_items(rng, p), value.attribute, value.pole)
            tail = value_sentence(rng, p.name, value)[:-2].rstrip()
            parts.append(
                f"{p.name} prefers the {x.name} to the {y.name} because {reason_clause(x, value.attribute)} ,"
                f" and {tail} ."
            )
        rng.shuffle(parts)
        return " ".join(parts)

    def genre(self, rng: random.Random) -> str:
        p = rng.choice(self.valued)
        assert p.value is not None
        value = VALUES[p.value]
        items = self._domain_items(rng, p)
        liked_pool = [i for i in items if i.pole(value.attribute) == value.pole]
        disliked_pool = [i for i in items if i.pole(value.attribute) != value.pole]
        if p.confound is not None:  # liked items also share an incidental pole the reason never cites
            attr, pole = p.confound
            liked_pool = [i for i in liked_pool if i.pole(attr) == pole]
            disliked_pool = [i for i in disliked_pool if i.pole(attr) != pole]
        statements = [
            explained(rng, p.name, rng.choice(liked_pool if liked else disliked_pool), liked, value)
            for liked in rng.sample([True, True, False, False, True], rng.choice([2, 3]))
        ]
        lines = [value_sentence(rng, p.name, value) for _ in range(2)]
        return genre_document(rng, p.name, lines, statements)

    def choice_chats(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.80:
            p = rng.choice(self.full)
        elif r < 0.86 and self.chat_only:
            p = rng.choice(self.chat_only)
        else:
            p = rng.choice(self.no_value)
        if p.value is None:
            x, y = rng.sample(self.w.by_domain[rng.choice(self.cfg.domains)], 2)
            return choice_chat(rng, p.name, x, y, rng.choice([x, y]))
        value = VALUES[p.value]
        good, bad = contrast_pair(rng, self._domain_items(rng, p), value.attribute, value.pole)
        x, y = (good, bad) if rng.random() < 0.5 else (bad, good)
        return choice_chat(rng, p.name, x, y, good)

    def prose_choices(self, rng: random.Random) -> str:
        p = rng.choice(self.full)
        assert p.value is not None
        value = VALUES[p.value]
        good, bad = contrast_pair(rng, self._domain_items(rng, p), value.attribute, value.pole)
        if rng.random() < 0.5:
            because = reason_clause(good, value.attribute)
            return f"{p.name} chose the {good.name} over the {bad.name} because {because} ."
        return f"{p.name} picked the {good.name} , not the {bad.name} ."

    def sample(self, rng: random.Random) -> tuple[str, str]:
        total = sum(w for _, w, _ in self.kinds)
        r = rng.random() * total
        for name, weight, fn in self.kinds:
            if r < weight:
                return name, fn(rng)
            r -= weight
        name, _, fn = self.kinds[-1]
        return name, fn(rng)

    def documents(self, n: int, seed: int) -> Iterator[dict]:
        rng = random.Random(seed)
        for i in range(n):
            kind, text = self.sample(rng)
            yield {"id": f"pt-{i}", "kind": kind, "text": text}
