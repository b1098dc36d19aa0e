"""Level checkpoints: ``levels/<name>.jsonl`` (the rows) and ``levels/<name>.json`` (the commit marker: the
level key, the row count, the rows file's sha256 and the level's counts), written in that order.

The key hashes the run's key base (config, spec, prompts, model), the level's name and its **inputs**
(the upstream rows it asks about), so a level whose upstream changed is recomputed rather than loaded.

A checkpoint is loaded only when its marker parses, its key matches, its rows file is the one the marker
describes (same sha256 and row count) and the level had **no failed call**. Anything else (a different
config or upstream, a file cut short, a row removed or edited by hand, a damaged marker) is not trusted,
and a level with failed calls is not final: the level is recomputed, every usable answer it needs comes
from the completion cache for free, and only the failed calls are asked again. So a damaged checkpoint
never blocks a rerun, and a short run rerun against a healthy server fills its gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError
from valuesfirst.generate.level_stats import LevelStats
from valuesfirst.generate.parsing import stable_id
from valuesfirst.jsonl import read_json, read_jsonl, sha256_file, write_json, write_jsonl

log = logging.getLogger(__name__)
Row = dict[str, Any]


class LevelStore:
    """Checkpoints under ``root/levels``; ``key_base`` hashes everything that shapes the outputs."""

    def __init__(self, root: Path, key_base: str) -> None:
        self.dir = Path(root) / "levels"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key_base = key_base

    def key(self, level: str, inputs: object) -> str:
        return stable_id(self.key_base, level, stable_id(inputs))

    def load(self, level: str, inputs: object) -> tuple[list[Row], LevelStats] | None:
        meta_path = self.dir / f"{level}.json"
        rows_path = self.dir / f"{level}.jsonl"
        if not meta_path.exists():
            return None
        try:
            meta = read_json(meta_path)
        except InputError as exc:
            log.warning("checkpoint marker %s is damaged (%s); recomputing the level", meta_path, exc)
            return None
        if not isinstance(meta, dict) or meta.get("key") != self.key(level, inputs):
            return None  # a different config, spec or upstream made it: recompute (cached calls stay free)
        problem = self._check(meta, rows_path)
        if problem is None:
            try:
                rows = read_jsonl(rows_path)
                stats = LevelStats.from_json(meta["stats"])
            except (InputError, KeyError, TypeError) as exc:
                problem = str(exc)
            else:
                if len(rows) != stats.kept:
                    problem = f"{len(rows)} rows where the level kept {stats.kept}"
                elif stats.failed_calls:
                    log.info("level %s had %d failed calls; asking them again", level, stats.failed_calls)
                    return None
                else:
                    return rows, stats
        log.warning("checkpoint %s does not match its marker (%s); recomputing the level", rows_path, problem)
        return None

    @staticmethod
    def _check(meta: dict[str, Any], rows_path: Path) -> str | None:
        if not rows_path.is_file():
            return "rows file missing"
        digest = meta.get("sha256")
        if digest is not None and sha256_file(rows_path) != digest:
            return "rows file changed since it was written"
        return None

    def save(self, level: str, inputs: object, rows: Sequence[Row], stats: LevelStats) -> None:
        rows_path = self.dir / f"{level}.jsonl"
        n = write_jsonl(rows_path, rows)
        marker = {
            "key": self.key(level, inputs),
            "rows": n,
            "sha256": sha256_file(rows_path),
            "stats": stats.to_json(),
        }
        write_json(self.dir / f"{level}.json", marker)
