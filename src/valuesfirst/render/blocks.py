"""Multi-sentence blocks shared by the genres: the value, the preferences, a closing line."""

from __future__ import annotations

from collections.abc import Sequence

from valuesfirst.render.content import ItemView
from valuesfirst.render.writer import Person, Writer


def value_block(w: Writer, person: Person = "third", n_why: int = 1, rule: float = 0.3) -> list[str]:
    """Intro sentence, `n_why` reasons for the value, and sometimes one of its rules."""
    out = [w.intro(person), *w.why(person, n_why)]
    if w.chance(rule):
        r = w.rule(person)
        if r:
            out.append(r)
    return out


def items_block(w: Writer, items: Sequence[ItemView] | None = None, person: Person = "third") -> list[str]:
    """One statement per item; now and then two same-polarity items share a group sentence first."""
    items = list(w.items if items is None else items)
    out: list[str] = []
    if len(items) >= 3 and w.chance(0.25):
        liked = [i for i in items if i.liked]
        disliked = [i for i in items if not i.liked]
        group = max((liked, disliked), key=len)
        if len(group) >= 2:
            out.append(w.group_line(group[:3], person))
    out += [w.item_line(i, person) for i in items]
    return out


def para(sentences: Sequence[str | None]) -> str:
    return " ".join(s for s in sentences if s)


def likes_and_dislikes(w: Writer) -> tuple[list[ItemView], list[ItemView]]:
    return [i for i in w.items if i.liked], [i for i in w.items if not i.liked]


def item_names(items: Sequence[ItemView]) -> list[str]:
    return [i.name for i in items]
