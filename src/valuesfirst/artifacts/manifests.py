"""Stage manifests: the ``manifest.json`` that marks a stage folder finished, and reading it back.

A finished stage is a folder under ``ROOT/stages`` whose manifest says ``"status": "complete"`` and lists
every other file in the folder with its size and sha256; ``verify_stage`` re-hashes against that list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import fsync_dir, read_json, sha256_file

MANIFEST = "manifest.json"
STAGES_DIR = "stages"


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


def _read_complete_manifest(folder: Path, key: str | None = None) -> dict[str, Any] | None:
    """The manifest of ``folder`` if it is complete (and, when ``key`` is given, carries that key)."""
    manifest = _stage_manifest(folder)
    if manifest is None or manifest.get("status") != "complete":
        return None
    if key is not None and manifest.get("key") != key:
        return None  # a folder whose manifest disagrees with its name is damaged: never reuse it
    return manifest


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
