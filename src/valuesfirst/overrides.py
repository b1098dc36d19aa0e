"""``--set KEY=VALUE`` overrides of a config, shared by ``run``, ``train`` and ``eval``.

Values are read as YAML (``seeds=[0, 1]``, ``recipe.lr=2e-4``), merged over the loaded config, and the
result validated again, so a typo in a key is an unknown-field error naming ``--set KEY``.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from valuesfirst.errors import InputError, Problem

M = TypeVar("M", bound=BaseModel)


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base``: nested mappings merge, anything else replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["stages.msm.steps=40", "seeds=[0, 1]"]`` -> a nested dict; values are read as YAML."""
    import yaml

    out: dict[str, Any] = {}
    problems = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            problems.append(
                Problem(None, None, "--set", f"{item!r} is not KEY=VALUE (e.g. stages.msm.steps=40)")
            )
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            problems.append(Problem(None, None, f"--set {key}", f"value is not YAML: {e}"))
            continue
        node = out
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # `a=1` and `a.b=2` together: say so, do not crash
                problems.append(Problem(None, None, f"--set {key}", f"{part!r} is also set to a value"))
                break
            node = child
        else:
            node[leaf] = value
    if problems:
        raise InputError(problems)
    return out


def apply_overrides(config: M, overrides: dict[str, Any], prefix: str = "") -> M:
    """``config`` with ``overrides`` merged in and validated; errors name ``--set PREFIX.FIELD``
    (``prefix``: where ``config`` sits among the command's settings, e.g. ``options`` for ``eval``)."""
    if not overrides:
        return config
    try:
        return type(config).model_validate(deep_merge(config.model_dump(mode="json"), overrides))
    except ValidationError as exc:
        lead = f"--set {prefix}." if prefix else "--set "
        raise InputError(
            [Problem(None, None, lead + ".".join(str(x) for x in e["loc"]), str(e["msg"]))
             for e in exc.errors(include_url=False)]
        ) from exc  # fmt: skip


def split_sections(overrides: dict[str, Any], sections: list[str]) -> dict[str, dict[str, Any]]:
    """``overrides`` by top-level section (``eval --set options.limit=60``), each a mapping; an unknown
    section or a bare value names the sections there are."""
    problems = [
        Problem(None, None, f"--set {k}", f"not a settings section; the sections are {sections}")
        for k, v in overrides.items()
        if k not in sections or not isinstance(v, dict)
    ]
    if problems:
        raise InputError(problems)
    return {name: dict(overrides.get(name, {})) for name in sections}
