"""``StageStore``: build a stage into a private temp folder, publish it atomically, recover from crashes.

``build`` writes into ``ROOT/stages/.tmp-{kind}-{key}-{host}-{pid}-{random}``; only after it returns, its
files are hashed and fsynced and the manifest says ``"status": "complete"``, is the folder renamed to
``ROOT/stages/{kind}-{key}``. Temp folders left by dead builds on this host are removed by later runs.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuesfirst.artifacts.keys import (
    STAGE_FORMAT_VERSION,
    StageSpec,
    _check_jsonable,
    _fingerprints,
    _key_from,
    _problem,
    stage_key,
)
from valuesfirst.artifacts.manifests import MANIFEST, STAGES_DIR, _file_list, _read_complete_manifest
from valuesfirst.errors import InputError
from valuesfirst.jsonl import fsync_dir, write_json
from valuesfirst.provenance import provenance, redact, utc_now

log = logging.getLogger(__name__)

_TMP_PREFIX = ".tmp-"


def _host_tag() -> str:
    """A short, non-reversible tag of this host for temp-folder names.

    Temp folders carry the builder's pid so a later run can tell a crashed build from a live one. On a
    filesystem shared by several machines a pid means nothing elsewhere, so a run only judges temp folders
    made on its own host. The hostname is hashed because stage roots get shared.
    """
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@dataclass(frozen=True)
class StageResult:
    """A finished stage: its folder, its manifest, and whether it was reused rather than built now."""

    path: Path
    manifest: dict[str, Any]
    reused: bool
    key: str


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


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


class StageStore:
    """Finished stages under ``root/stages``, each in ``{kind}-{key}``; see ``valuesfirst.artifacts``."""

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
        return self.find(spec) is not None

    def find(self, spec: StageSpec) -> StageResult | None:
        """The finished stage for ``spec`` if one exists, else None; never builds anything."""
        key = stage_key(spec)
        final = self._path(spec.kind, key)
        manifest = _read_complete_manifest(final, key)
        return None if manifest is None else StageResult(path=final, manifest=manifest, reused=True, key=key)

    def copy_from(self, stage: StageResult) -> StageResult:
        """Publish a copy of a finished stage of another store (a user cache) under the same key, atomically
        like a build; the copy's manifest is the original's, so its provenance says where it was built."""
        final = self._path(str(stage.manifest["kind"]), stage.key)
        self.stages_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.stages_dir / (
            f"{_TMP_PREFIX}copy-{final.name}-{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
        )
        try:
            shutil.copytree(stage.path, tmp)
            for entry in tmp.rglob("*"):  # fsync the copy before it becomes visible under its final name
                if entry.is_file():
                    with open(entry, "rb") as fh:
                        os.fsync(fh.fileno())
            published = self._publish(tmp, final, stage.key, force=False)
        except BaseException:
            _remove_tree(tmp)
            raise
        if not published:
            _remove_tree(tmp)
        manifest = _read_complete_manifest(final, stage.key)
        if manifest is None:  # pragma: no cover - the copy was published, so it has the manifest
            raise RuntimeError(f"{final}: copied stage has no complete manifest")
        return StageResult(path=final, manifest=manifest, reused=True, key=stage.key)

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
