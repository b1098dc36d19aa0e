"""Rendering a :class:`~valuesfirst.spec.Spec` as Markdown in the MSM paper's variants.

The spec is rendered to Markdown in *variants*, which serve as LLM context for document generation and
as the experimental conditions of the MSM paper:

- ``values_explained``: identity, then each value with what it is, why the assistant holds it, its
  rules, worked examples with explanations, and the preferences the value explains; then any
  preferences stated without attribution. This is the full spec.
- ``rules_only``: identity, then only the rules (one flat list, not grouped under value names) and the
  stated preferences, with no what/why, no examples and no attribution of preferences to values. This
  is the paper's "rules without reasons" condition.
- ``rules_augmented``: the rules-only text padded with more rule-like material derived from the rules,
  the worked examples (prompt and response only) and the preferences, until its length in words matches
  ``values_explained`` within a tolerance. It never contains a ``why`` or an example explanation: the
  paper's length-matched "rules augmented" control (§5.1), which separates "more text" from "reasons".
- ``general``: identity and one general paragraph about good values and judgment, with no value,
  rule, example or preference of this spec: the paper's General Spec condition (§5.2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from valuesfirst.errors import InputError
from valuesfirst.spec import Preferences, Spec

SpecVariant = Literal["values_explained", "rules_only", "rules_augmented", "general"]
"""Names of the rendered spec variants; see the module docstring."""


def _identity_section(spec: Spec) -> list[str]:
    ident = spec.identity
    out = [
        f"# {spec.title}",
        "",
        "## Identity",
        "",
        f"The assistant is called {ident.name} and is developed by {ident.developer}.",
    ]
    if ident.description:
        out += ["", ident.description]
    return out


def _preferences_lines(prefs: Preferences) -> list[str]:
    return [
        f"- Likes ({prefs.domain}): {', '.join(prefs.likes)}",
        f"- Dislikes ({prefs.domain}): {', '.join(prefs.dislikes)}",
    ]


def _reasons_lines(prefs: Preferences) -> list[str]:
    """Each item's own reason (values_explained only: the reasons ARE the attribution)."""
    lines = [f"- {item}: {prefs.reason_for(item)}" for _, _, item in prefs.items() if prefs.reason_for(item)]
    return ["", "Why each one:", ""] + lines if lines else []


def _quote(text: str) -> list[str]:
    # Prefix every line so multi-line prompts stay inside the Markdown blockquote.
    return [f"> {line}".rstrip() for line in text.splitlines()]


def render_values_explained(spec: Spec) -> str:
    """Full spec as Markdown: identity, each value with what, why, rules, examples and the preferences it
    explains, then preferences stated without attribution."""
    out = _identity_section(spec)
    out += ["", "## Values"]
    for number, value in enumerate(spec.values, start=1):
        out += ["", f"### {number}. {value.name}", "", f"**What.** {value.what}", "", f"**Why.** {value.why}"]
        if value.rules:
            out += ["", "**Rules.**", ""] + [f"- {rule}" for rule in value.rules]
        if value.examples:
            out += ["", "**Examples.**"]
            for example in value.examples:
                out += [""] + _quote(f"User: {example.prompt}") + [">"]
                out += _quote(f"{spec.identity.name}: {example.response}")
                if example.explanation:
                    out += ["", f"Why this response: {example.explanation}"]
        if value.preferences is not None:
            out += ["", f"**Preferences that follow from {value.name}.**", ""]
            out += _preferences_lines(value.preferences)
            out += _reasons_lines(value.preferences)
    if spec.preferences is not None:
        out += ["", "## Stated preferences", ""] + _preferences_lines(spec.preferences)
    return "\n".join(out) + "\n"


def render_rules_only(spec: Spec) -> str:
    """Identity, the rules and the stated preferences only: no what, why, examples or attributions."""
    out = _identity_section(spec)
    rules = [rule for value in spec.values for rule in value.rules]
    if rules:
        out += ["", "## Rules", ""] + [f"{number}. {rule}" for number, rule in enumerate(rules, start=1)]
    blocks = [prefs for _, prefs in spec.preference_blocks()]
    if blocks:
        out += ["", "## Preferences", ""]
        for prefs in blocks:
            out += _preferences_lines(prefs)
    return "\n".join(out) + "\n"


# --- length-matched and general variants -----------------------------------------------------------

RULES_AUGMENTED_TOLERANCE = 0.05
"""``rules_augmented`` ends within this fraction of the ``values_explained`` word count (default 5%)."""

# Restatement frames: each turns a rule into one more prescriptive line. They add rule-like text only
# (a situation plus the rule), never a reason, so the variant stays a "rules without whys" condition.
_RESTATEMENTS: tuple[str, ...] = (
    "Always: {rule}",
    "This holds in every conversation, with every user: {rule}",
    "When a user asks the assistant to set this aside, the rule still holds: {rule}",
    "When a request is phrased indirectly, the same rule applies: {rule}",
    "In a hypothetical or role-play framing the rule is unchanged: {rule}",
    "When two users disagree about it, follow the rule: {rule}",
    "In a long conversation, the rule applies to the last turn as much as to the first: {rule}",
    "When the rule seems inconvenient, follow it anyway: {rule}",
)


def word_count(text: str) -> int:
    """Words as whitespace-separated tokens: the length measure of the length-matched variants."""
    return len(text.split())


def _derived_rule_lines(spec: Spec) -> list[str]:
    """Concrete rules derived from rules, examples and preferences, in a deterministic order."""
    lines: list[str] = []
    name = spec.identity.name
    for value in spec.values:
        for example in value.examples:
            # Prompt and response only: the example's explanation is a reason and stays out.
            prompt = " ".join(example.prompt.split())
            response = " ".join(example.response.split())
            lines.append(f'When a user says "{prompt}", {name} answers: "{response}"')
    for _, prefs in spec.preference_blocks():
        for like in prefs.likes:
            for dislike in prefs.dislikes:
                lines.append(f"When asked to choose between {like} and {dislike}, choose {like}.")
    rules = [rule for value in spec.values for rule in value.rules]
    for frame in _RESTATEMENTS:
        lines += [frame.format(rule=rule) for rule in rules]
    return lines


def render_rules_augmented(spec: Spec, *, tolerance: float = RULES_AUGMENTED_TOLERANCE) -> str:
    """Rules-only text padded with derived rules until its word count is within `tolerance` of the
    ``values_explained`` rendering.

    Derived lines are tried in order and a line that would overshoot the upper bound is skipped, so the
    result is deterministic. Raises InputError when the spec has too little rule material to reach the
    target (no rules, examples or preferences to derive from).
    """
    target = word_count(render_values_explained(spec))
    low, high = target * (1 - tolerance), target * (1 + tolerance)
    base = render_rules_only(spec).rstrip("\n")
    words = word_count(base)
    header = ["", "## Further rules", ""]
    extra: list[str] = []
    number = 1
    if words < low:
        words += word_count("\n".join(header))
        for line in _derived_rule_lines(spec):
            item = f"{number}. {line}"
            size = word_count(item)
            if words + size > high:
                continue
            extra.append(item)
            words += size
            number += 1
            if words >= low:
                break
        # Short restatements close the last gap when every derived line would overshoot.
        j = 0
        while extra and words < low and j < 10_000:
            j += 1
            ref = (j - 1) % len(extra) + 1
            for line in (f"Further rule {ref} always applies.", f"Rule {ref} holds."):
                item = f"{number}. {line}"
                if words + word_count(item) <= high:
                    extra.append(item)
                    words += word_count(item)
                    number += 1
                    break
            else:
                break
    if words < low or words > high:
        raise InputError.single(
            f"cannot length-match the rules_augmented variant: {words} words vs {target} for "
            "values_explained; add rules, examples or preferences to derive rule material from",
            field="values",
        )
    body = base + ("\n" + "\n".join(header + extra) if extra else "")
    return body + "\n"


_GENERAL_PARAGRAPH = (
    "{name} aims to have broadly good values and sound judgment: to act as a deeply and skillfully "
    "ethical agent would in its position. It cares about the people it works with and about the world, "
    "it is honest and transparent, and it avoids actions that are harmful, deceptive or irreversible. "
    "Because its training is imperfect and its own values or beliefs may be subtly mistaken without it "
    "knowing, it supports appropriate human oversight and correction of AI systems during this period, "
    "and it does not act unilaterally against the legitimate wishes of {developer}. When rules and "
    "situations are unclear, it weighs the interests of everyone affected, prefers cautious options, "
    "and explains its reasoning openly."
)


def render_general(spec: Spec) -> str:
    """Identity plus one general paragraph on good values and judgment; nothing specific to the spec's
    values, rules, examples or preferences (the paper's General Spec, §5.2)."""
    out = _identity_section(spec)
    ident = spec.identity
    out += ["", "## Having broadly good values and judgment", ""]
    out.append(_GENERAL_PARAGRAPH.format(name=ident.name, developer=ident.developer))
    return "\n".join(out) + "\n"


RENDERERS: dict[str, Callable[[Spec], str]] = {
    "values_explained": render_values_explained,
    "rules_only": render_rules_only,
    "rules_augmented": render_rules_augmented,
    "general": render_general,
}
"""Renderer for each variant name; later variants register here."""


def render(spec: Spec, variant: SpecVariant) -> str:
    """Render `spec` as Markdown in the named variant (see the module docstring)."""
    try:
        renderer = RENDERERS[variant]
    except KeyError:
        raise ValueError(f"unknown spec variant {variant!r}; known: {', '.join(RENDERERS)}") from None
    return renderer(spec)


__all__ = [
    "RENDERERS",
    "RULES_AUGMENTED_TOLERANCE",
    "SpecVariant",
    "render",
    "render_general",
    "render_rules_augmented",
    "render_rules_only",
    "render_values_explained",
    "word_count",
]
