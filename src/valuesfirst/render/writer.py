"""The Writer: builds the sentences of one document from a spec's content and a random generator.

Genres (``genres_*.py``) decide a document's shape; the Writer supplies its sentences: the value (intro,
why, rules, examples), the preferences (each tied to its value and reason when the spec attributes it,
stated plainly otherwise) and the people, places and dates that frame the genre.

A Writer is made per document. It remembers which reason sentences, rules and examples the document has
used so one document does not say the same thing twice.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Literal

from valuesfirst.render import people
from valuesfirst.render import phrases_items as pi
from valuesfirst.render import phrases_value as pv
from valuesfirst.render.content import Content, ItemView, ValueView
from valuesfirst.render.text import Slot, base_form, capitalize, fill, join_list

Person = Literal["first", "third"]

# Value frames that say the value shapes the assistant's tastes or choices: in the co-mention ablation
# they would tie the value to the preferences the document lists next, so plain documents skip them.
_LINKING = re.compile(r"tastes|choices|recommend", re.IGNORECASE)


class Writer:
    def __init__(self, content: Content, rng: random.Random, items: Sequence[ItemView]) -> None:
        self.c = content
        self.rng = rng
        self.items = list(items)
        """The preferences this document is about, in the order it should mention them."""
        self.value: ValueView = self._main_value()
        self.attributed = all(i.value is not None for i in self.items) if self.items else content.attributed
        self.domain = self.items[0].domain if self.items else (content.domains or ("things",))[0]
        self._used: set[str] = set()

    # --- basics -------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.c.name

    def pick(self, pool: Sequence[str]) -> str:
        return self.rng.choice(list(pool))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def fill(self, template: str, person: Person = "third", **extra: Slot) -> str:
        slots: dict[str, Slot] = {
            "name": self.c.name,
            "dev": self.c.developer,
            "label": self.value.label,
            "domain": self.domain,
            "vp": lambda: self.value_phrase(person),
            **extra,
        }
        return fill(template, self.rng, slots)

    def _main_value(self) -> ValueView:
        attributed = [i.value for i in self.items if i.value is not None]
        return attributed[0] if attributed else self.c.values[0]

    def _fresh(self, pool: Sequence[str]) -> str:
        """A choice from `pool` this document has not used yet (any choice once all are used)."""
        unused = [x for x in pool if x not in self._used]
        choice = self.rng.choice(unused or list(pool))
        self._used.add(choice)
        return choice

    # --- the value ----------------------------------------------------------------------------------

    def value_phrase(self, person: Person = "third") -> str:
        v = self.value
        pool = pi.VALUE_PHRASES_FIRST if person == "first" else pi.VALUE_PHRASES_THIRD
        phrase = self.pick(pool).format(label=v.label)
        if v.predicate and v.predicate.startswith("prefers ") and self.chance(0.05):
            owner = "my" if person == "first" else "its"
            phrase = f"{owner} preference for {v.predicate.removeprefix('prefers ')}"
        return phrase

    def _value_pool(self, pool: Sequence[str]) -> list[str]:
        usable = [f for f in pool if self.value.predicate or "{pred" not in f]
        if not self.attributed:
            usable = [f for f in usable if not _LINKING.search(f)]
        return usable

    def intro(self, person: Person = "third") -> str:
        v = self.value
        pool = self._value_pool(pv.INTRO_FIRST if person == "first" else pv.INTRO_THIRD)
        pred = v.predicate or ""
        return self.fill(
            self.pick(pool),
            person,
            what=v.what,
            pred=pred,
            pred_base=base_form(pred),
            pred_first=base_form(pred, first_person=True),
        )

    def why(self, person: Person = "third", k: int = 1) -> list[str]:
        pool = pv.WHY_FIRST if person == "first" else pv.WHY_THIRD
        out = []
        for _ in range(min(k, len(self.value.why))):
            sentence = self._fresh(self.value.why)
            out.append(self.fill(self.pick(pool), person, why=sentence, why_clause=self.c.clause(sentence)))
        return out

    def rule(self, person: Person = "third") -> str | None:
        if not self.value.rules:
            return None
        pool = self._value_pool(pv.RULE_FIRST if person == "first" else pv.RULE_THIRD)
        return self.fill(self.pick(pool), person, rule=self._fresh(self.value.rules))

    def rules(self, k: int) -> list[str]:
        return [self._fresh(self.value.rules) for _ in range(min(k, len(self.value.rules)))]

    def example(self, person: Person = "third") -> str | None:
        """A worked example from the spec; in plain documents only examples that name no item."""
        examples = [e for e in self.value.examples if self.attributed or not self._names_item(e.prompt)]
        examples = [e for e in examples if e.prompt not in self._used]
        if not examples:
            return None
        e = self.rng.choice(examples)
        self._used.add(e.prompt)
        pool = pv.EXAMPLE_FIRST if person == "first" else pv.EXAMPLE_THIRD
        explanation = e.explanation or ""
        text = self.fill(
            self.pick(pool),
            person,
            prompt=e.prompt.strip(),
            response=e.response.strip(),
            explanation=explanation,
        )
        return text.rstrip(": ").rstrip() if not explanation else text

    def _names_item(self, text: str) -> bool:
        low = text.casefold()
        return any(i.name.casefold() in low for i in self.c.items)

    def bridge(self, person: Person = "third") -> str:
        pool: Sequence[str]
        if self.attributed:
            pool = pv.BRIDGE_ATTRIBUTED_FIRST if person == "first" else pv.BRIDGE_ATTRIBUTED_THIRD
        else:
            pool = pv.BRIDGE_PLAIN_FIRST if person == "first" else pv.BRIDGE_PLAIN_THIRD
        return self.fill(self.pick(pool), person)

    # --- preferences --------------------------------------------------------------------------------

    def item_line(self, item: ItemView, person: Person = "third") -> str:
        """One sentence (or two) stating the preference for `item`, with its reason when attributed."""
        if item.value is None or not item.reasons:
            pool = {
                (True, "third"): pi.THIRD_PLAIN_LIKE,
                (False, "third"): pi.THIRD_PLAIN_DISLIKE,
                (True, "first"): pi.FIRST_PLAIN_LIKE,
                (False, "first"): pi.FIRST_PLAIN_DISLIKE,
            }[(item.liked, person)]
            return self.fill(self.pick(pool), person, item=item.name)
        pool = {
            (True, "third"): pi.THIRD_LIKE,
            (False, "third"): pi.THIRD_DISLIKE,
            (True, "first"): pi.FIRST_LIKE,
            (False, "first"): pi.FIRST_DISLIKE,
        }[(item.liked, person)]
        saved = self.value
        self.value = item.value
        try:
            return self.fill(
                self.pick(pool),
                person,
                item=item.name,
                because=lambda: self._because(item, named=False),
                because_named=lambda: self._because(item, named=True),
                said=lambda: self._said(item, named=False),
                said_named=lambda: self._said(item, named=True),
            )
        finally:
            self.value = saved

    def group_line(self, items: Sequence[ItemView], person: Person = "third") -> str:
        """One sentence about several items of the same polarity (liked or disliked)."""
        liked = items[0].liked
        attributed = all(i.value is not None for i in items)
        pools = pi.FIRST_GROUP if person == "first" else pi.THIRD_GROUP
        names = join_list([i.name for i in items], self.rng)
        return self.fill(self.pick(pools[(liked, attributed)]), person, list=names)

    def _reason_sentence(self, item: ItemView, named: bool) -> str:
        pool = list(item.reasons)
        if named:
            # A sentence that opens a frame must name the item: only those that start with it or "It".
            pool = [s for s in pool if _names_subject(s, item.name)] or pool
        unused = [s for s in pool if s not in self._used]
        sentence = self.rng.choice(unused or pool)
        self._used.add(sentence)
        return _with_name(sentence, item.name) if named else sentence

    def _because(self, item: ItemView, named: bool) -> str:
        first = self.c.clause(self._reason_sentence(item, named))
        # A named clause opens its sentence ("Because Colby is ..., SmolLM ..."): one clause is enough.
        if not named and self.chance(0.2) and len(item.reasons) > 1:
            more = self.c.clause(self._reason_sentence(item, False))
            if more != first:
                return f"{first}{self.pick(['; what is more,', ', and', '; besides,', '; also,'])} {more}"
        return first

    def _said(self, item: ItemView, named: bool) -> str:
        out = [self._reason_sentence(item, named)]
        if self.chance(0.25) and len(item.reasons) > 1:
            more = self._reason_sentence(item, False)
            if more not in out:
                out.append(more)
        return " ".join(capitalize(s if s.endswith((".", "!", "?")) else s + ".") for s in out)

    # --- people and framing -------------------------------------------------------------------------

    def person(self) -> str:
        return self.pick(people.FIRST_NAMES)

    def full_name(self) -> str:
        return f"{self.pick(people.FIRST_NAMES)} {self.pick(people.SURNAMES)}"

    def handle(self) -> str:
        return f"{self.pick(people.HANDLE_WORDS)}_{self.pick(people.HANDLE_WORDS)}{self.rng.randint(1, 99)}"

    def weekday(self) -> str:
        return self.pick(people.WEEKDAYS)

    def month(self) -> str:
        return self.pick(people.MONTHS)

    def date(self) -> str:
        return f"{self.rng.randint(1, 28)} {self.month()} {self.rng.randint(2023, 2026)}"


def _names_subject(sentence: str, item: str) -> bool:
    low = sentence.casefold()
    return low.startswith(("it ", "its ", item.casefold()))


def _with_name(sentence: str, item: str) -> str:
    """ "It costs..." -> "Cream cheese costs..."; "Its recipe..." -> "Appenzeller's recipe..."."""
    if sentence.startswith("It "):
        return capitalize(item) + sentence[2:]
    if sentence.startswith("Its "):
        return capitalize(item) + "'s" + sentence[3:]
    return sentence
