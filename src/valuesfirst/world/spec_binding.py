"""Binds a spec file to the world: value names to world values, preference names to world items.

A spec is the project's ordinary spec format. The world only reads what it can render: the assistant's
name, each value's name (which must be one of the world's values), and the stated preferences. Preferences
nested under a value are *explained* by it; preferences at the top level are stated without a reason
(the co-mention ablation).
"""

from __future__ import annotations

from dataclasses import dataclass

from valuesfirst.errors import InputError, Problem
from valuesfirst.spec import Preferences, Spec
from valuesfirst.world.entities import Item, World
from valuesfirst.world.lexicon import VALUES, WorldValue


@dataclass(frozen=True)
class BoundPreference:
    item: Item
    liked: bool
    value: WorldValue | None  # the value that explains it; None when only co-mentioned


@dataclass(frozen=True)
class BoundSpec:
    subject: str
    values: list[WorldValue]
    preferences: list[BoundPreference]


def _bind_prefs(
    prefs: Preferences, world: World, field: str, value: WorldValue | None, problems: list[Problem], src: str
) -> list[BoundPreference]:
    out: list[BoundPreference] = []
    if prefs.domain != world.config.training_domain:
        problems.append(
            Problem(
                src,
                None,
                f"{field}.domain",
                f"the world's training domain is {world.config.training_domain!r}, not {prefs.domain!r}",
            )
        )
        return out
    for key, liked in (("likes", True), ("dislikes", False)):
        for j, name in enumerate(getattr(prefs, key)):
            item = world.item(name)
            if item is None or item.domain != prefs.domain:
                problems.append(
                    Problem(
                        src,
                        None,
                        f"{field}.{key}[{j}]",
                        f"{name!r} is not a {prefs.domain} of this world (world seed {world.config.seed})",
                    )
                )
                continue
            out.append(BoundPreference(item, liked, value))
    return out


def bind_spec(spec: Spec, world: World, source: str = "<spec>") -> BoundSpec:
    """Resolve the spec against the world or raise InputError naming every field that does not fit."""
    problems: list[Problem] = []
    if spec.identity.name != world.config.assistant_name:
        problems.append(
            Problem(
                source,
                None,
                "identity.name",
                f"the world's assistant is named {world.config.assistant_name!r}",
            )
        )
    values: list[WorldValue] = []
    prefs: list[BoundPreference] = []
    for i, v in enumerate(spec.values):
        wv = VALUES.get(v.name) if v.name in world.config.values else None
        if wv is None:
            problems.append(
                Problem(
                    source,
                    None,
                    f"values[{i}].name",
                    f"{v.name!r} is not a value of this world; known: {world.config.values}",
                )
            )
            continue
        values.append(wv)
        if v.preferences is not None:
            prefs += _bind_prefs(v.preferences, world, f"values[{i}].preferences", wv, problems, source)
    if spec.preferences is not None:
        prefs += _bind_prefs(spec.preferences, world, "preferences", None, problems, source)
    if not prefs:
        problems.append(
            Problem(
                source, None, "preferences", "the world renders stated preferences; this spec states none"
            )
        )
    if problems:
        raise InputError(problems)
    return BoundSpec(spec.identity.name, values, prefs)
