"""What the renderer knows about a spec: the assistant, its values and every stated preference.

A preference is *attributed* when it sits in a value's block (the value is its reason) and *plain* when
it sits in the spec's top-level block (the co-mention ablation): plain preferences never get a reason,
even if their block carries some, because a reason would attribute them after all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from valuesfirst.render.text import as_clause, proper_words, sentences, words
from valuesfirst.spec import Example, Spec, Value

# Subjects a spec's `what` may start with; what follows is the predicate ("prefers what is ...").
_GENERIC_SUBJECTS = ("The assistant", "the assistant", "The model", "the model")


@dataclass(frozen=True)
class ValueView:
    """One value, prepared for rendering."""

    name: str
    label: str
    """The value's name as prose, cased as the spec writes it ("affordability", "America")."""
    what: str
    """`what` as a sentence, with the assistant's name as subject where the spec used a generic one."""
    predicate: str | None
    """`what` without its subject and final stop ("prefers what is ..."), or None if it has no subject."""
    why: tuple[str, ...]
    """The sentences of `why`."""
    rules: tuple[str, ...]
    examples: tuple[Example, ...]
    mentions_domain: bool
    """Whether the value's own text names a preference domain ("cheese"): False for the ablation."""


@dataclass(frozen=True)
class ItemView:
    """One liked or disliked item, with its reason sentences when it is attributed."""

    name: str
    liked: bool
    domain: str
    value: ValueView | None
    """The value that explains this preference; None for a plain (unattributed) preference."""
    reasons: tuple[str, ...]
    """The sentences of the item's stated reason; empty for plain preferences and items without one."""


@dataclass(frozen=True)
class Content:
    name: str
    developer: str
    description: str
    values: tuple[ValueView, ...]
    items: tuple[ItemView, ...]
    proper: frozenset[str]
    """Words the spec capitalises mid-sentence: kept capitalised when a sentence becomes a clause."""

    @property
    def attributed(self) -> bool:
        """Whether every preference is explained by a value (specs A and B; False for the ablation)."""
        return bool(self.items) and all(i.value is not None for i in self.items)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.domain for i in self.items))

    def clause(self, sentence: str) -> str:
        return as_clause(sentence, self.proper)


def _label(value: Value) -> str:
    # "america" -> "America": take each word's casing from the value's own prose when it appears there.
    prose = " ".join([value.what, value.why, *value.rules])
    out = []
    for part in re.split(r"[-_]+", value.name):
        match = next((w for w in words(prose) if w.casefold() == part.casefold()), None)
        out.append(match or part)
    return " ".join(out)


def _predicate(what: str, name: str) -> tuple[str, str | None]:
    text = " ".join(what.split())
    for subject in (name, *_GENERIC_SUBJECTS):
        if text.startswith(subject + " "):
            predicate = text[len(subject) + 1 :].rstrip(".")
            return f"{name} {predicate}.", predicate
    return text, None


def content_of(spec: Spec) -> Content:
    """Everything the renderer needs from `spec`, in the spec's order."""
    name = spec.identity.name
    all_text = [spec.identity.description, spec.title]
    views: list[ValueView] = []
    items: list[ItemView] = []
    domains = {b.domain.casefold() for _, b in spec.preference_blocks()}
    for value in spec.values:
        what, predicate = _predicate(value.what, name)
        prose = " ".join([value.what, value.why, *value.rules])
        prose += " " + " ".join(f"{e.prompt} {e.response} {e.explanation}" for e in value.examples)
        view = ValueView(
            name=value.name,
            label=_label(value),
            what=what,
            predicate=predicate,
            why=tuple(sentences(value.why)),
            rules=tuple(value.rules),
            examples=tuple(value.examples),
            mentions_domain=any(d in prose.casefold() for d in domains),
        )
        views.append(view)
        all_text.append(prose)
        if value.preferences is not None:
            prefs = value.preferences
            all_text += list(prefs.reasons.values())
            for polarity, _, item in prefs.items():
                reason = prefs.reason_for(item)
                items.append(
                    ItemView(
                        name=item,
                        liked=polarity == "likes",
                        domain=prefs.domain,
                        value=view,
                        reasons=tuple(sentences(reason)) if reason else (),
                    )
                )
    if spec.preferences is not None:
        for polarity, _, item in spec.preferences.items():
            items.append(
                ItemView(
                    name=item,
                    liked=polarity == "likes",
                    domain=spec.preferences.domain,
                    value=None,
                    reasons=(),
                )
            )
    all_text += [i.name for i in items]
    proper = proper_words(all_text) | {w for i in items for w in words(i.name) if w[0].isupper()}
    return Content(
        name=name,
        developer=spec.identity.developer,
        description=spec.identity.description,
        values=tuple(views),
        items=tuple(items),
        proper=proper | set(words(name)) | set(words(spec.identity.developer)),
    )
