"""Shared run plumbing for both generators: level keys, the deterministic final order, manifest.json."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from valuesfirst.generate.engines import BulkEngine
from valuesfirst.generate.levels import LevelStats, Row, StageFailed
from valuesfirst.generate.parsing import stable_id
from valuesfirst.generate.templates import PromptSet
from valuesfirst.jsonl import write_json
from valuesfirst.llm.client import LLMClient
from valuesfirst.provenance import provenance, redact
from valuesfirst.spec import Spec

# Fields that change how a run is shown, projected, judged or waited for but never what it generates;
# left out of level keys so that, e.g., a longer deadline does not invalidate finished levels.
_KEY_EXCLUDE = {
    "preview_output_fraction",
    "prompts_dir",
    "target_tolerance",
    "attempt_timeout_s",
    "call_deadline_s",
    "engine",  # the transport: answers are cached under keys that do not name it
}

T = TypeVar("T")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def key_base(kind: str, config: BaseModel, spec_text: str, prompts: PromptSet, model: str) -> str:
    """Hash of everything that shapes the generated rows: config, rendered spec, prompts, model."""
    return stable_id(
        kind,
        config.model_dump(mode="json", exclude=_KEY_EXCLUDE),
        text_hash(spec_text),
        prompts.digest(),
        model,
    )


def final_order(rows: list[Row], seed: int) -> list[Row]:
    """Sort by stable id, then a seeded shuffle: the order depends on content and seed only, never on
    the order in which calls completed."""
    ordered = sorted(rows, key=lambda r: r["id"])
    random.Random(seed).shuffle(ordered)
    return ordered


def shortfalls(stats: dict[str, LevelStats], tolerance: float) -> dict[str, dict[str, Any]]:
    """The levels that ended below their target by more than ``tolerance`` (a fraction of the target),
    each with its kept and target counts and what it lost (failures and drops by reason)."""
    out = {}
    for name, s in stats.items():
        if s.target is not None and s.kept < s.target * (1.0 - tolerance):
            out[name] = {
                "kept": s.kept,
                "target": s.target,
                "failed": dict(sorted(s.failed.items())),
                "dropped": dict(sorted(s.dropped.items())),
                "examples": dict(sorted(s.examples.items())),
            }
    return out


def shortfall_text(short: dict[str, dict[str, Any]]) -> str:
    """One line per short level, for stderr."""
    lines = []
    for name, s in short.items():
        lost = ", ".join(f"{k}={v}" for k, v in {**s["failed"], **s["dropped"]}.items()) or "nothing counted"
        lines.append(f"level {name}: kept {s['kept']} of {s['target']} (lost: {lost})")
        lines.extend(f"  {reason}: {text}" for reason, text in s["examples"].items())
    return "\n".join(lines)


@dataclass
class RunRecord:
    """What ``manifest.json`` records about one generate run. ``stats`` is the runner's live dict, so a
    manifest written after a level stopped shows the counts so far."""

    out_dir: Path
    kind: str
    config: BaseModel
    spec: Spec
    spec_path: Path | None
    spec_text: str
    prompts: PromptSet
    client: LLMClient
    stats: dict[str, LevelStats]
    judge_client: LLMClient | None = None
    engine: BulkEngine | None = None
    """The bulk levels' transport, when not the client's (its counts go into the manifest)."""

    def write(self, status: str, outputs: dict[str, Any]) -> dict[str, Any]:
        client, judge_client, prompts = self.client, self.judge_client, self.prompts
        judge = judge_client or client
        manifest = {
            "kind": self.kind,
            "status": status,
            "config": redact(self.config.model_dump(mode="json")),
            "generator_model": client.backend.model,
            "backend": getattr(client.backend, "name", None),
            "judge_model": judge.backend.model if self.kind == "aft" else None,
            "inputs": {
                "spec_path": str(self.spec_path) if self.spec_path else None,
                "spec_content_hash": self.spec.content_hash(),
                "spec_variant_text_hash": text_hash(self.spec_text),
                "prompt_set": prompts.source,
                "prompt_version": prompts.version,
                "prompt_template_hashes": prompts.hashes(),
            },
            "levels": {name: s.to_json() for name, s in self.stats.items()},
            "usage": client.usage.to_json(),
            "judge_usage": judge_client.usage.to_json() if judge_client is not None else None,
            "engine": self.engine.usage_report() if self.engine is not None else {"kind": "client"},
            "outputs": outputs,
            "provenance": provenance(),
        }
        manifest = redact(manifest)  # examples quote errors and answers; config may hold a key
        write_json(self.out_dir / "manifest.json", manifest)
        return manifest

    async def levels(self, run: Awaitable[T]) -> T:
        """Await the run's levels. When one passes the failure threshold, record where it stopped
        (``stopped.json`` and a manifest with status ``stopped``) and re-raise; when all finish, remove
        the ``stopped.json`` an earlier, stopped run left."""
        try:
            result = await run
        except StageFailed as exc:
            stopped = {"level": exc.stats.level, "early": exc.early, "summary": str(exc)}
            write_json(self.out_dir / "stopped.json", redact(stopped))
            self.write("stopped", {"stopped_at": exc.stats.level})
            raise
        (self.out_dir / "stopped.json").unlink(missing_ok=True)
        return result
