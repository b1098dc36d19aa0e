"""The Model Spec: who the assistant is, which values it holds, and why.

A spec is a YAML file validated by the pydantic models below. Unknown fields are errors (so a typo
such as ``wy:`` is caught and named, with its line), every string is stripped and must not be empty
unless it has an empty default, and cross-field rules (unique value names, consistent preferences) are
checked with errors that point at the exact offending item.

Rendering into the MSM paper's variants lives in :mod:`valuesfirst.spec_render`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from valuesfirst.errors import InputError, Problem
from valuesfirst.yamlio import YamlPath, field_path, load_model, raise_field_errors

_SLUG = re.compile(r"[a-z0-9_-]+")


def _stripped(value: str) -> str:
    return value.strip()


def _non_empty(value: str) -> str:
    value = value.strip()
    if not value:
        raise PydanticCustomError("empty_string", "must not be empty or only whitespace")
    return value


def _slug(value: str) -> str:
    value = _non_empty(value)
    if not _SLUG.fullmatch(value):
        raise PydanticCustomError(
            "slug",
            "must be a slug of lowercase letters, digits, `_` and `-` (got {value!r})",
            {"value": value},
        )
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
"""A string that is stripped of surrounding whitespace and must not be empty afterwards."""
OptionalStr = Annotated[str, AfterValidator(_stripped)]
"""A string that is stripped of surrounding whitespace and may be empty."""
Slug = Annotated[str, AfterValidator(_slug)]
"""An identifier of lowercase letters, digits, ``_`` and ``-``."""


class _Strict(BaseModel):
    # extra="forbid" turns typos into named errors instead of silently dropped data.
    model_config = ConfigDict(extra="forbid")


class Identity(_Strict):
    """Who the assistant is."""

    name: NonEmptyStr = "assistant"
    """How the assistant is named in documents and chats. Default ``"assistant"``."""
    developer: NonEmptyStr
    """Who trains it. Required."""
    description: OptionalStr = ""
    """A sentence or two about what the assistant is for. Default empty."""


class Example(_Strict):
    """A worked example of a value in action."""

    prompt: NonEmptyStr
    """What the user says. Required."""
    response: NonEmptyStr
    """What the assistant answers. Required."""
    explanation: OptionalStr = ""
    """Why this response follows from the value. Default empty; left out of the rules-only variant."""


class Preferences(_Strict):
    """Concrete stated preferences in one domain, e.g. the cheeses the assistant likes and dislikes.

    Items are compared ignoring case and repeated whitespace: ``"Blue cheese"`` and ``"blue  cheese"`` are
    the same item.
    """

    domain: NonEmptyStr
    """What the preferences are about, e.g. ``"cheese"``. Required."""
    likes: list[NonEmptyStr]
    """Items the assistant prefers. Required, non-empty, no duplicates."""
    dislikes: list[NonEmptyStr]
    """Items the assistant disprefers. Required, non-empty, no duplicates, none of them also a like."""
    reasons: dict[str, NonEmptyStr] = Field(default_factory=dict)
    """Why the assistant holds each preference, keyed by item: ``{"Stilton": "It is costly ..."}``. Keys
    must be items of this block's likes or dislikes (compared like items are, ignoring case and repeated
    whitespace), at most one key per item; items without a key have no stated reason. Default empty.
    In a value's block a reason should follow from that value; a top-level (unattributed) block normally
    has none, since a reason would attribute the preference after all."""

    @model_validator(mode="after")
    def _consistent(self) -> Preferences:
        errors: list[tuple[YamlPath, str]] = []
        for polarity in ("likes", "dislikes"):
            items: list[str] = getattr(self, polarity)
            if not items:
                errors.append(((polarity,), "must list at least one item"))
            first: dict[str, int] = {}
            for index, item in enumerate(items):
                key = _item_key(item)
                if key in first:
                    errors.append(
                        ((polarity, index), f"duplicate item {item!r} (same as {polarity}[{first[key]}])")
                    )
                else:
                    first[key] = index
        likes = {_item_key(item): index for index, item in enumerate(self.likes)}
        for index, item in enumerate(self.dislikes):
            like_index = likes.get(_item_key(item))
            if like_index is not None:
                errors.append(
                    (("dislikes", index), f"{item!r} is both liked (likes[{like_index}]) and disliked")
                )
        errors += self._reason_errors()
        raise_field_errors("Preferences", errors, self)
        return self

    def _reason_errors(self) -> list[tuple[YamlPath, str]]:
        known = {_item_key(item) for item in (*self.likes, *self.dislikes)}
        errors: list[tuple[YamlPath, str]] = []
        first: dict[str, str] = {}
        for key in self.reasons:
            norm = _item_key(key)
            if norm not in known:
                errors.append((("reasons", key), f"{key!r} is not one of this block's likes or dislikes"))
            elif norm in first:
                message = f"duplicate reason for {key!r} (same item as {first[norm]!r})"
                errors.append((("reasons", key), message))
            else:
                first[norm] = key
        return errors

    def reason_for(self, item: str) -> str | None:
        """The stated reason for `item` (matched like items are), or None when it has none."""
        norm = _item_key(item)
        return next((text for key, text in self.reasons.items() if _item_key(key) == norm), None)

    def items(self) -> Iterator[tuple[str, int, str]]:
        """Yield ``(polarity, index, item)`` for every like, then every dislike."""
        for polarity in ("likes", "dislikes"):
            for index, item in enumerate(getattr(self, polarity)):
                yield polarity, index, item


class Value(_Strict):
    """One value the assistant holds, with the reasons behind it."""

    name: Slug
    """Short identifier, e.g. ``honesty``: lowercase letters, digits, ``_`` and ``-``. Required, unique."""
    what: NonEmptyStr
    """What the value asks of the assistant. Required."""
    why: NonEmptyStr
    """Why the assistant holds it. Required; left out of the rules-only variant."""
    rules: list[NonEmptyStr] = Field(default_factory=list)
    """Concrete behavioural rules that follow from the value. Default empty."""
    examples: list[Example] = Field(default_factory=list)
    """Worked examples. Default empty."""
    preferences: Preferences | None = None
    """Preferences EXPLAINED BY this value (the value is the stated reason for them). Default none."""


class Spec(_Strict):
    """A Model Spec: identity plus the values the assistant holds."""

    spec_version: Literal[1] = 1
    """Format version of this file. Default 1, the only version so far."""
    title: NonEmptyStr
    """Title of the spec. Required."""
    identity: Identity
    """Who the assistant is. Required."""
    values: list[Value] = Field(min_length=1)
    """The values, in order of presentation. Required, at least one, names unique."""
    preferences: Preferences | None = None
    """Preferences stated WITHOUT attributing them to any value (the MSM paper's App. C.4 co-mention
    ablation: the preference appears next to the values but is not explained by them). Default none."""

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        errors: list[tuple[YamlPath, str]] = []
        names: dict[str, int] = {}
        for index, value in enumerate(self.values):
            if value.name in names:
                errors.append(
                    (
                        ("values", index, "name"),
                        f"duplicate value name {value.name!r} (same as values[{names[value.name]}])",
                    )
                )
            else:
                names[value.name] = index
        # An item liked in one block and disliked in another would make the spec contradict itself.
        seen: dict[str, tuple[str, YamlPath]] = {}
        for loc, prefs in self.preference_blocks():
            for polarity, index, item in prefs.items():
                key = _item_key(item)
                here = (*loc, polarity, index)
                if key not in seen:
                    seen[key] = (polarity, here)
                elif seen[key][0] != polarity:
                    other_polarity, other_loc = seen[key]
                    where = field_path(other_loc)
                    errors.append(
                        (here, f"{item!r} is in {polarity} here but in {other_polarity} at `{where}`")
                    )
        raise_field_errors("Spec", errors, self)
        return self

    def preference_blocks(self) -> Iterator[tuple[YamlPath, Preferences]]:
        """Yield ``(location, block)`` for every Preferences block: per value in order, then the
        unattributed one."""
        for index, value in enumerate(self.values):
            if value.preferences is not None:
                yield ("values", index, "preferences"), value.preferences
        if self.preferences is not None:
            yield ("preferences",), self.preferences

    def content_hash(self) -> str:
        """SHA-256 hex digest of the canonical JSON of the spec (sorted keys, defaults filled in).

        Independent of key order and formatting in the source file; changes with any content change.
        """
        canonical = json.dumps(
            _without_empty_reasons(self.model_dump(mode="json")),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _item_key(item: str) -> str:
    return " ".join(item.split()).casefold()


def _without_empty_reasons(data: dict) -> dict:
    """Drop ``reasons: {}`` from every preference block of a dumped spec.

    `reasons` was added after specs were already hashed (the generation manifest records the hash to
    resume): leaving the empty default out keeps those hashes, and dumped files, as they were.
    """
    blocks = [data.get("preferences")] + [v.get("preferences") for v in data.get("values", [])]
    for block in blocks:
        if isinstance(block, dict) and block.get("reasons") == {}:
            del block["reasons"]
    return data


# --- loading and saving ----------------------------------------------------------------------------


def load_spec(path: str | Path) -> Spec:
    """Load and validate a spec file. Raises `InputError` listing every problem with file and line."""
    return load_model(path, Spec)


def check_spec(path: str | Path) -> list[Problem]:
    """Every problem with the spec at `path`; empty when it is valid. Never raises for bad content."""
    try:
        load_spec(path)
    except InputError as exc:
        return exc.problems
    return []


class _SpecDumper(yaml.SafeDumper):
    """Writes multi-line prose as ``|`` blocks so a dumped spec stays readable and diffable."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style by itself when a block scalar cannot hold the text exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SpecDumper.add_representer(str, _represent_str)


def dump_spec(spec: Spec, path: str | Path) -> None:
    """Write `spec` as YAML to `path` (atomically) so that `load_spec(path)` returns an equal spec."""
    text = yaml.dump(
        _without_empty_reasons(spec.model_dump(mode="json", exclude_none=True)),
        Dumper=_SpecDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "Example",
    "Identity",
    "Preferences",
    "Spec",
    "Value",
    "check_spec",
    "dump_spec",
    "load_spec",
]
