"""An eval's output folder is claimed before any call: no eval silently overwrites another's results.

``eval.json`` in the folder records the settings of the eval that writes there (the full record; the
terminal shows a few lines). A second eval into a non-empty folder is refused, naming the settings that
differ, unless ``--overwrite`` is given; the *same* eval with the same settings may run again into its
folder (after a crash: its completion cache, ``OUT/cache`` by default, answers every call already paid for).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError
from valuesfirst.jsonl import write_json

RECORD = "eval.json"
CACHE = "cache"  # the default completion cache of an eval (OUT/cache): answers, not results


def _normalized(settings: dict[str, Any]) -> dict[str, Any]:
    # Through JSON, so paths, tuples and numbers compare as they are stored.
    return json.loads(json.dumps(settings, default=str, sort_keys=True))


def claim_out(out: Path, settings: dict[str, Any], *, overwrite: bool) -> str | None:
    """Check that ``out`` may receive this eval and record ``settings`` there; return a note or None.

    Raises InputError (field ``--out``) for a file, or for a non-empty folder holding another eval's
    results or anything without a readable record, unless ``overwrite``.
    """
    if out.exists() and not out.is_dir():
        raise InputError.single("is a file, not a folder", file=str(out), field="--out")
    now = _normalized(settings)
    contents = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    note = None
    # A folder holding only a record and a cache is an eval that stopped before writing any result (a bad
    # backend, a kill during generation): free to reuse; a rerun of the same eval answers from the cache.
    if set(contents) - {RECORD, CACHE} and not overwrite:
        before = _read_record(out / RECORD)
        if before is None:
            shown = ", ".join(contents[:5]) + (", …" if len(contents) > 5 else "")
            raise InputError.single(
                f"folder is not empty ({shown}) and holds no eval record ({RECORD}); pick another --out, "
                "or pass --overwrite to replace what this eval writes there",
                file=str(out),
                field="--out",
            )
        differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if differ:
            raise InputError.single(
                f"holds another eval's results (settings differ: {', '.join(differ)}); pick another --out, "
                "or pass --overwrite to replace them",
                file=str(out),
                field="--out",
            )
        note = f"{out} holds this same eval (same settings): running it again into the folder"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RECORD, now)
    return note


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
