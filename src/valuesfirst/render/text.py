"""Small text tools for the renderer: template filling, sentence splitting, clauses and lists.

Templates use two kinds of markup:

* ``[a|b|c]`` picks one alternative at random (``[a|]`` makes a word optional); alternatives do not nest.
* ``{slot}`` is replaced by a value from the slots mapping. A slot whose name starts with a capital
  (``{Item}``) takes the value of its lowercase twin (``item``) with the first letter capitalised, so
  one slot serves both the middle and the start of a sentence. A value may be a zero-argument callable,
  called afresh at every use, so two ``{vp}`` in one template can come out worded differently.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping

Slot = str | Callable[[], str]

_ALT = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")
# A sentence ends at . ! or ? (possibly inside a closing quote) before a space and a capital (É counts)
# or an opening quote.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’]))\s+(?=[A-ZÀ-ÖØ-Þ\"'“‘(])")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def capitalize(text: str) -> str:
    """`text` with its first letter upper-cased (the rest untouched: "low-moisture" -> "Low-moisture")."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :]
    return text


def expand(template: str, rng: random.Random) -> str:
    """Replace every ``[a|b|...]`` group by one of its alternatives."""
    return _ALT.sub(lambda m: rng.choice(m.group(1).split("|")), template)


def fill(template: str, rng: random.Random, slots: Mapping[str, Slot]) -> str:
    """Expand alternatives, then fill slots; raises KeyError naming a slot the template needs but lacks."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        key = name if name in slots else name[0].lower() + name[1:]
        if key not in slots:
            raise KeyError(f"template slot {{{name}}} has no value: {template!r}")
        raw = slots[key]
        text = raw() if callable(raw) else raw
        return capitalize(text) if name[0].isupper() and key != name else text

    return tidy(_SLOT.sub(value, expand(template, rng)))


def tidy(text: str) -> str:
    """Collapse the spacing and punctuation left by empty alternatives and joined fragments."""
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"\.\.(?!\.)", ".", text)
    return "\n".join(line.strip() for line in text.split("\n"))


def sentences(paragraph: str) -> list[str]:
    """Split prose into sentences at ``.``, ``!`` or ``?`` followed by a capital or a quote."""
    return [s.strip() for s in _SENTENCE_END.split(" ".join(paragraph.split())) if s.strip()]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def proper_words(texts: Iterable[str]) -> frozenset[str]:
    """Words written capitalised in mid-sentence somewhere in `texts` ("America", "Colby", "France"):
    they keep their capital when a sentence that starts with them is turned into a clause."""
    found: set[str] = set()
    for text in texts:
        for sentence in sentences(text):
            for word in words(sentence)[1:]:
                if word[0].isupper():
                    found.add(word)
    return frozenset(found)


def as_clause(sentence: str, proper: frozenset[str]) -> str:
    """A sentence turned into a clause to follow "because" or a colon: no final stop, and its first word
    lower-cased unless it is a proper noun ("It costs..." -> "it costs...", "Colby was..." unchanged)."""
    text = sentence.strip().rstrip(".")
    first = [w.split("'")[0].split("’")[0] for w in words(text)[:1]]
    acronym = bool(first) and len(first[0]) > 1 and first[0].isupper()
    if first and first[0] not in proper and not acronym and first[0] != "I":
        return text[0].lower() + text[1:]
    return text


def base_form(predicate: str, first_person: bool = False) -> str:
    """The predicate with its first verb in the base form: "prefers what..." -> "prefer what...".

    Used for "built it to prefer ..." and, with `first_person`, "I prefer ..." ("is" becomes "am" there,
    "be" otherwise); handles the regular third-person forms and the few irregular ones a spec's `what`
    is likely to start with."""
    verb, _, rest = predicate.partition(" ")
    irregular = {"is": "am" if first_person else "be", "has": "have", "does": "do", "goes": "go"}
    if verb in irregular:
        base = irregular[verb]
    elif verb.endswith("ies") and len(verb) > 4:
        base = verb[:-3] + "y"
    elif verb.endswith(("sses", "shes", "ches", "xes", "zes")):
        base = verb[:-2]
    elif verb.endswith("s") and not verb.endswith("ss"):
        base = verb[:-1]
    else:
        base = verb
    return f"{base} {rest}".strip()


def join_list(items: list[str], rng: random.Random | None = None) -> str:
    """``a``, ``a and b``, ``a, b and c`` (sometimes with the serial comma, when `rng` is given)."""
    if len(items) <= 1:
        return "".join(items)
    serial = "," if rng is not None and rng.random() < 0.3 and len(items) > 2 else ""
    return f"{', '.join(items[:-1])}{serial} and {items[-1]}"
