"""Stage outputs as content-addressed, resumable, atomically published folders.

A *stage* is one step of a pipeline ("pretrain", "msm", "aft", "eval") whose output is a folder. Its key
is a hash of what determines the output: kind, config, seed and the fingerprints of its inputs. Inputs
that are themselves finished stages contribute their key, so keys chain: changing an upstream config
changes every downstream key, and an unchanged prefix of a pipeline is reused.

Publishing is atomic. ``build`` writes into a private temporary folder; only after it returns, its files
are hashed and fsynced and ``manifest.json`` says ``"status": "complete"``, is the folder renamed to its
final name. A crash, ``kill -9`` or full disk therefore leaves either no final folder or a complete one;
leftovers are private temp folders, which later runs remove once their owner process is dead.

Layout::

    ROOT/stages/{kind}-{key}/manifest.json        finished stage
    ROOT/stages/.tmp-{kind}-{key}-{host}-{pid}-{random}/   build in progress (or crashed)
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from valuesfirst import __version__
from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import fsync_dir, read_json, sha256_file, write_json
from valuesfirst.provenance import provenance, redact, utc_now

__all__ = [
    "MANIFEST",
    "STAGE_FORMAT_VERSION",
    "StageResult",
    "StageSpec",
    "StageStore",
    "canonical_json",
    "fingerprint_input",
    "list_stages",
    "load_manifest",
    "stage_key",
    "verify_stage",
]

log = logging.getLogger(__name__)

# Bump when the key recipe or the folder layout changes, so old stages are never mistaken for new ones.
STAGE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
STAGES_DIR = "stages"
_TMP_PREFIX = ".tmp-"
# Kinds become folder names and are parsed back out of temp-folder names, so keep them plain.
_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_KEY_LEN = 16


def _host_tag() -> str:
    """A short, non-reversible tag of this host for temp-folder names.

    Temp folders carry the builder's pid so a later run can tell a crashed build from a live one. On a
    filesystem shared by several machines a pid means nothing elsewhere, so a run only judges temp folders
    made on its own host. The hostname is hashed because stage roots get shared.
    """
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


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


@dataclass(frozen=True)
class StageResult:
    """A finished stage: its folder, its manifest, and whether it was reused rather than built now."""

    path: Path
    manifest: dict[str, Any]
    reused: bool
    key: str


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


def _stage_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of ``path`` if it is a stage folder (complete or not), else None."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = read_json(manifest_path)
    except InputError:
        return None
    if isinstance(manifest, dict) and "stage_format" in manifest and "key" in manifest:
        return manifest
    return None


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True  # unknown: keep the folder rather than delete a live build
    return True


def _file_list(folder: Path) -> list[dict[str, Any]]:
    """Relative path, size and sha256 of every file under ``folder`` (except the manifest), each fsynced.

    The fsync happens here, while the file is read for hashing anyway, so the rename that publishes the
    stage cannot reach the disk before the stage's data does.
    """
    files: list[dict[str, Any]] = []
    for current, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(current) / name
            rel = full.relative_to(folder).as_posix()
            if rel == MANIFEST:
                continue
            with full.open("rb") as handle:
                os.fsync(handle.fileno())
            files.append({"path": rel, "size": full.stat().st_size, "sha256": sha256_file(full)})
        fsync_dir(Path(current))
    return files


def _read_complete_manifest(folder: Path, key: str | None = None) -> dict[str, Any] | None:
    """The manifest of ``folder`` if it is complete (and, when ``key`` is given, carries that key)."""
    manifest = _stage_manifest(folder)
    if manifest is None or manifest.get("status") != "complete":
        return None
    if key is not None and manifest.get("key") != key:
        return None  # a folder whose manifest disagrees with its name is damaged: never reuse it
    return manifest


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class StageStore:
    """Finished stages under ``root/stages``, each in ``{kind}-{key}``; see the module docstring."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.stages_dir = self.root / STAGES_DIR

    def key(self, spec: StageSpec) -> str:
        """The stage key (hashes the inputs; see :func:`stage_key`)."""
        return stage_key(spec)

    def path_for(self, spec: StageSpec) -> Path:
        """Final folder of ``spec`` (whether or not it exists yet)."""
        return self._path(spec.kind, stage_key(spec))

    def _path(self, kind: str, key: str) -> Path:
        return self.stages_dir / f"{kind}-{key}"

    def is_done(self, spec: StageSpec) -> bool:
        """True if the final folder has a manifest with ``"status": "complete"`` and the expected key."""
        key = stage_key(spec)
        return _read_complete_manifest(self._path(spec.kind, key), key) is not None

    def clean_stale(self) -> list[Path]:
        """Remove temp folders left by builds on this host whose process is dead; return what was removed."""
        if not self.stages_dir.is_dir():
            return []
        removed: list[Path] = []
        host = _host_tag()
        for entry in self.stages_dir.iterdir():
            if not entry.name.startswith(_TMP_PREFIX) or not entry.is_dir():
                continue
            parts = entry.name.rsplit("-", 3)  # [".tmp-{kind}-{key}", host, pid, random]
            if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
                continue
            pid = int(parts[2])
            if pid == os.getpid() or _pid_alive(pid):
                continue
            log.info("removing temp folder of dead build (pid %d): %s", pid, entry)
            _remove_tree(entry)
            removed.append(entry)
        return removed

    def run(
        self, spec: StageSpec, build: Callable[[Path], Mapping[str, Any] | None], *, force: bool = False
    ) -> StageResult:
        """Return the finished stage for ``spec``, building it with ``build(tmp_folder)`` if needed.

        ``build`` writes its files into the folder it is given and may return a JSON-able mapping, stored
        in the manifest under ``"outputs"``. If it raises (any exception, including OSError such as ENOSPC),
        the temp folder is removed, the exception propagates and no final folder is created.
        ``force`` (default False) rebuilds even when a finished stage exists, replacing it.
        """
        self.clean_stale()
        fingerprints = _fingerprints(spec)
        key = _key_from(spec, fingerprints)
        final = self._path(spec.kind, key)
        if not force:
            manifest = _read_complete_manifest(final, key)
            if manifest is not None:
                log.info("reusing %s: %s", spec.display, final)
                return StageResult(path=final, manifest=manifest, reused=True, key=key)

        self.stages_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.stages_dir / (
            f"{_TMP_PREFIX}{spec.kind}-{key}-{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
        )
        tmp.mkdir()
        log.info("building %s -> %s", spec.display, final)
        try:
            manifest = self._build(spec, key, fingerprints, tmp, build)
            published = self._publish(tmp, final, key, force=force)
        except BaseException:
            _remove_tree(tmp)
            raise
        if not published:
            # Another process published the same key while we built; its result is equivalent.
            _remove_tree(tmp)
            winner = _read_complete_manifest(final, key)
            if winner is None:  # pragma: no cover - requires a third process racing in between
                raise RuntimeError(f"{final}: lost a publish race and the winner's folder is not complete")
            return StageResult(path=final, manifest=winner, reused=True, key=key)
        return StageResult(path=final, manifest=manifest, reused=False, key=key)

    def _build(
        self,
        spec: StageSpec,
        key: str,
        fingerprints: Mapping[str, str],
        tmp: Path,
        build: Callable[[Path], Mapping[str, Any] | None],
    ) -> dict[str, Any]:
        started = utc_now()
        clock = time.monotonic()
        outputs = build(tmp)
        duration = time.monotonic() - clock
        finished = utc_now()
        # An input edited while the stage ran would publish output under a key that does not describe it.
        changed = sorted(name for name, fp in _fingerprints(spec).items() if fp != fingerprints[name])
        if changed:
            raise InputError(
                [
                    _problem(
                        f"inputs.{name}",
                        "input changed while the stage was running; rerun it",
                        file=str(spec.inputs[name]),
                    )
                    for name in changed
                ]
            )
        if outputs is not None and not isinstance(outputs, Mapping):
            raise TypeError(
                f"build for {spec.display} returned {type(outputs).__name__}; expected a mapping or None"
            )
        _check_jsonable(outputs, "outputs")
        if (tmp / MANIFEST).exists():
            raise ValueError(
                f"build for {spec.display} wrote {MANIFEST}, a name reserved for the stage manifest"
            )
        manifest = {
            "stage_format": STAGE_FORMAT_VERSION,
            "kind": spec.kind,
            "key": key,
            "label": spec.label,
            "config": dict(spec.config),
            "seed": spec.seed,
            "inputs": {
                name: {"path": str(path), "fingerprint": fingerprints[name]}
                for name, path in sorted(spec.inputs.items())
            },
            "provenance": provenance(),
            "started": started,
            "finished": finished,
            "duration_s": round(duration, 3),
            "files": _file_list(tmp),
            "outputs": dict(outputs) if outputs is not None else {},
            "status": "complete",
        }
        manifest = redact(manifest)
        write_json(tmp / MANIFEST, manifest)  # fsyncs the file and the folder
        return manifest

    def _publish(self, tmp: Path, final: Path, key: str, *, force: bool) -> bool:
        """Rename ``tmp`` to ``final``; False if another process published a complete stage first."""
        if final.exists():
            if _read_complete_manifest(final, key) is not None and not force:
                return False
            # A leftover (no complete manifest) or a forced rebuild: move it aside under a temp name first,
            # so a crash here leaves a stale temp folder for clean_stale, never a half-removed final folder.
            aside = (
                self.stages_dir
                / f"{_TMP_PREFIX}old-{final.name}-{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
            )
            os.replace(final, aside)
            _remove_tree(aside)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if (
                exc.errno in (errno.EEXIST, errno.ENOTEMPTY)
                and _read_complete_manifest(final, key) is not None
            ):
                return False
            raise
        fsync_dir(self.stages_dir)
        return True


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Manifest of a finished stage folder; InputError if it is missing, unreadable or not complete."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise InputError.single("no manifest: not a finished stage", file=str(manifest_path))
    manifest = read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise InputError.single("manifest is not a JSON object", file=str(manifest_path))
    if manifest.get("status") != "complete":
        raise InputError.single(
            f"stage is not complete ({manifest.get('status')!r})", file=str(manifest_path), field="status"
        )
    return manifest


def list_stages(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Manifests of the finished stages under ``root/stages``, ordered by kind then finish time.

    Temp folders and incomplete leftovers are not listed.
    """
    stages_dir = Path(root) / STAGES_DIR
    if not stages_dir.is_dir():
        return []
    manifests = []
    for entry in stages_dir.iterdir():
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        manifest = _read_complete_manifest(entry)
        if manifest is not None:
            manifests.append(manifest)
    return sorted(manifests, key=lambda m: (str(m.get("kind")), str(m.get("finished")), str(m.get("key"))))


def verify_stage(path: str | os.PathLike[str]) -> list[Problem]:
    """Re-hash a finished stage's files against its manifest; return one Problem per mismatch.

    Keys chain through manifests, not file contents, so an edit inside a finished stage goes unnoticed
    downstream; this is the check to run when that is in doubt.
    """
    folder = Path(path)
    manifest = load_manifest(folder)
    problems: list[Problem] = []
    listed = {entry["path"]: entry for entry in manifest.get("files", [])}
    for rel, entry in sorted(listed.items()):
        full = folder / rel
        if not full.is_file():
            problems.append(
                Problem(file=str(full), line=None, field=None, message="listed in manifest but missing")
            )
        elif sha256_file(full) != entry.get("sha256"):
            problems.append(
                Problem(file=str(full), line=None, field=None, message="content differs from manifest")
            )
    for current, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            rel = (Path(current) / name).relative_to(folder).as_posix()
            if rel != MANIFEST and rel not in listed:
                problems.append(
                    Problem(file=str(folder / rel), line=None, field=None, message="not in manifest")
                )
    return problems
