"""Shared run plumbing for both generators: level keys, the deterministic final order, manifest.json."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from valuesfirst.generate.levels import LevelStats, Row
from valuesfirst.generate.parsing import stable_id
from valuesfirst.generate.templates import PromptSet
from valuesfirst.jsonl import write_json
from valuesfirst.llm.client import LLMClient
from valuesfirst.provenance import provenance, redact
from valuesfirst.spec import Spec

# Fields that change how a run is shown or projected but never what it generates; left out of level keys
# so that, e.g., a different preview assumption does not invalidate finished levels.
_KEY_EXCLUDE = {"preview_output_fraction", "prompts_dir"}


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


def write_manifest(
    out_dir: Path,
    *,
    kind: str,
    config: BaseModel,
    spec: Spec,
    spec_path: Path | None,
    spec_text: str,
    prompts: PromptSet,
    client: LLMClient,
    stats: dict[str, LevelStats],
    judge_client: LLMClient | None = None,
    outputs: dict[str, Any],
    status: str = "complete",
) -> dict[str, Any]:
    judge = judge_client or client
    manifest = {
        "kind": kind,
        "status": status,
        "config": redact(config.model_dump(mode="json")),
        "generator_model": client.backend.model,
        "backend": getattr(client.backend, "name", None),
        "judge_model": judge.backend.model if kind == "aft" else None,
        "inputs": {
            "spec_path": str(spec_path) if spec_path else None,
            "spec_content_hash": spec.content_hash(),
            "spec_variant_text_hash": text_hash(spec_text),
            "prompt_set": prompts.source,
            "prompt_version": prompts.version,
            "prompt_template_hashes": prompts.hashes(),
        },
        "levels": {name: s.to_json() for name, s in stats.items()},
        "usage": client.usage.to_json(),
        "judge_usage": judge_client.usage.to_json() if judge_client is not None else None,
        "outputs": outputs,
        "provenance": provenance(),
    }
    write_json(out_dir / "manifest.json", manifest)
    return manifest
