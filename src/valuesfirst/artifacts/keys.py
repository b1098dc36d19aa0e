"""Stage keys: what determines a stage's output (``StageSpec``) and the hash of it (``stage_key``).

A key is a hash of canonical JSON of the format version, the valuesfirst version, kind, config, seed and
the fingerprints of the inputs. An input that is itself a finished stage contributes its key, so keys
chain; any other file or folder contributes the hash of its content, never its location.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from valuesfirst import __version__
from valuesfirst.artifacts.manifests import MANIFEST, _stage_manifest
from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import sha256_file

# Bump when the key recipe or the folder layout changes, so old stages are never mistaken for new ones.
STAGE_FORMAT_VERSION = 1
# Kinds become folder names and are parsed back out of temp-folder names, so keep them plain.
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_KEY_LEN = 16


@dataclass(frozen=True)
class StageSpec:
    """What determines one stage's output.

    Attributes:
        kind: stage type, e.g. ``"msm"``; lowercase letters, digits, ``_``, ``.`` and ``-`` (no default).
        config: JSON-able settings that determine the output (no default). Paths do not belong here:
            put them in ``inputs`` so their *content*, not their location, enters the key.
        inputs: named input paths, each a finished stage folder or a plain file or folder (default: none).
        seed: random seed, part of the key (default: None, meaning the stage is deterministic or unseeded).
        label: human label for logs and listings, e.g. ``"msm[A] seed=1"``; not part of the key (default "").
    """

    kind: str
    config: Mapping[str, Any]
    inputs: Mapping[str, Path] = field(default_factory=dict)
    seed: int | None = None
    label: str = ""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not isinstance(self.kind, str) or not _KIND_RE.match(self.kind):
            problems.append(_problem("kind", f"{self.kind!r} must match {_KIND_RE.pattern}"))
        if not isinstance(self.config, Mapping):
            problems.append(_problem("config", f"must be a mapping, got {type(self.config).__name__}"))
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            problems.append(_problem("seed", f"must be an int or None, got {self.seed!r}"))
        if not isinstance(self.inputs, Mapping):
            problems.append(_problem("inputs", f"must be a mapping, got {type(self.inputs).__name__}"))
        else:
            for name, value in self.inputs.items():
                if not isinstance(name, str) or not name:
                    problems.append(
                        _problem("inputs", f"input names must be non-empty strings, got {name!r}")
                    )
                elif not isinstance(value, (str, os.PathLike)):
                    problems.append(_problem(f"inputs.{name}", f"must be a path, got {type(value).__name__}"))
        if problems:
            raise InputError(problems)
        # Normalise so callers may pass str paths; frozen, hence object.__setattr__.
        object.__setattr__(self, "inputs", {name: Path(value) for name, value in self.inputs.items()})
        _check_jsonable(self.config, "config")
        # A private copy: a caller mutating its dict later must not change this spec's key.
        object.__setattr__(self, "config", copy.deepcopy(dict(self.config)))

    @property
    def display(self) -> str:
        """The label, or the kind when no label was given."""
        return self.label or self.kind


def _problem(field_name: str, message: str, file: str | None = None) -> Problem:
    return Problem(file=file, line=None, field=field_name, message=message)


def _check_jsonable(value: Any, where: str) -> None:
    """Raise InputError naming the field path if ``value`` cannot be hashed as canonical JSON."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError([_problem(where, f"{value} is not a finite number")])
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                # json.dumps would turn 1 into "1" and make {1: x} and {"1": x} collide.
                raise InputError([_problem(where, f"keys must be strings, got {key!r}")])
            _check_jsonable(item, f"{where}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_jsonable(item, f"{where}[{index}]")
        return
    if isinstance(value, os.PathLike):
        raise InputError(
            [
                _problem(
                    where, "is a path; pass it in StageSpec.inputs so its content, not its name, is hashed"
                )
            ]
        )
    raise InputError([_problem(where, f"{type(value).__name__} is not JSON-able")])


def _normalise(value: Any) -> Any:
    # 1.0 and 1 are the same setting (YAML writes either); give them the same key.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(item) for item in value]
    return value


def canonical_json(obj: Any) -> str:
    """Deterministic JSON for hashing: sorted keys, no whitespace, integral floats as ints, no NaN."""
    return json.dumps(
        _normalise(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _hash_tree(root: Path) -> str:
    """sha256 over sorted relative paths and file contents of a plain directory.

    Symlinks are followed (the content is what a stage reads); directory cycles are rejected.
    Empty directories are included because a stage may list a folder.
    """
    entries: list[tuple[str, str]] = []
    seen: set[Path] = set()
    for current, dirnames, filenames in os.walk(root, followlinks=True):
        real = Path(current).resolve()
        if real in seen:
            raise InputError.single("symlink cycle in input folder", file=current)
        seen.add(real)
        dirnames.sort()
        rel_dir = Path(current).relative_to(root).as_posix()
        if rel_dir != "." and not filenames and not dirnames:
            entries.append((rel_dir + "/", "dir"))
        for name in filenames:
            full = Path(current) / name
            rel = full.relative_to(root).as_posix()
            if not full.is_file():
                raise InputError.single("not a regular file; cannot hash", file=str(full))
            entries.append((rel, sha256_file(full)))
    digest = hashlib.sha256()
    for rel, content in sorted(entries):
        digest.update(rel.encode("utf-8") + b"\0" + content.encode("ascii") + b"\n")
    return digest.hexdigest()


def fingerprint_input(name: str, path: Path) -> str:
    """Fingerprint of one input: ``stage:KEY``, ``file:SHA256`` or ``dir:SHA256``.

    A stage folder contributes its key (cheap, and it chains keys); a folder with an incomplete stage
    manifest is refused because its content may be half-written. A missing path raises InputError.
    """
    field_name = f"inputs.{name}"
    if not path.exists():
        raise InputError([_problem(field_name, "input does not exist", file=str(path))])
    if path.is_file():
        return "file:" + sha256_file(path)
    if path.is_dir():
        manifest = _stage_manifest(path)
        if manifest is None:
            return "dir:" + _hash_tree(path)
        if manifest.get("status") != "complete":
            raise InputError(
                [_problem(field_name, "stage folder is not complete", file=str(path / MANIFEST))]
            )
        return f"stage:{manifest['key']}"
    raise InputError([_problem(field_name, "input is neither a file nor a folder", file=str(path))])


def _key_from(spec: StageSpec, fingerprints: Mapping[str, str]) -> str:
    payload = {
        "format": STAGE_FORMAT_VERSION,
        # A new release may change what a stage computes: never reuse outputs across versions.
        "valuesfirst": __version__,
        "kind": spec.kind,
        "config": spec.config,
        "seed": spec.seed,
        "inputs": dict(fingerprints),
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:_KEY_LEN]


def stage_key(spec: StageSpec) -> str:
    """16-hex-digit key of a stage: sha256 of canonical JSON of format version, kind, config, seed and
    input fingerprints. The label and the store location do not enter it.

    The key hashes the config *before* redaction: an over-eager redaction must never make two different
    configs share a key. Keep secrets in environment variables, not configs.
    """
    return _key_from(spec, _fingerprints(spec))


def _fingerprints(spec: StageSpec) -> dict[str, str]:
    return {name: fingerprint_input(name, path) for name, path in sorted(spec.inputs.items())}
