"""Run a suite into a folder: ``transcripts.jsonl`` (generation), then ``scores.jsonl`` + ``summary.json``.

``rescore`` reads an existing ``transcripts.jsonl`` and scores it again (another judge, a second judge)
without calling the model under test. ``summary.json`` records the generation and judge settings, the
prompt-template hashes, token usage (the model under test's, from ``generation.json``, and the judges'),
the transcripts excluded from every metric by reason, and software provenance, with secrets redacted.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from valuesfirst.evals.judge import Judge, JudgeConfig
from valuesfirst.evals.runner import GenerationConfig, generate
from valuesfirst.evals.suites import Suite, SuiteOptions, summarize_all
from valuesfirst.evals.transcripts import Transcript, read_transcripts, with_labels, write_transcripts
from valuesfirst.jsonl import sha256_file, write_json, write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.provenance import provenance, redact

TRANSCRIPTS = "transcripts.jsonl"
GENERATION = "generation.json"
SCORES = "scores.jsonl"
SUMMARY = "summary.json"


def _usage(clients: dict[str, LLMClient | None]) -> dict[str, Any]:
    return {n: c.usage.to_json() for n, c in clients.items() if c is not None and hasattr(c.usage, "to_json")}


async def generate_transcripts(
    suite: Suite,
    options: SuiteOptions,
    model: LLMClient,
    gen: GenerationConfig,
    out: Path,
    *,
    condition: str | None = None,
    seed: int | None = None,
    attacker: LLMClient | None = None,
) -> list[Transcript]:
    """Generate and write ``transcripts.jsonl``, and ``generation.json``: the settings and the token usage
    of the model under test (and attacker), which ``summary.json`` reports even after a rescore."""
    items = suite.build(options)
    if suite.generate is not None:
        transcripts = await suite.generate(model, items, gen, attacker=attacker)
    else:
        transcripts = await generate(model, items, gen, suite.name)
    with_labels(transcripts, condition, seed)
    write_transcripts(out / TRANSCRIPTS, transcripts)
    record = {
        "suite": suite.name,
        "model": model.backend.model,
        "generation": gen.model_dump(),
        "n_items": len(items),
        "n_transcripts": len(transcripts),
        "usage": _usage({"model": model, "attacker": attacker}),
    }
    write_json(out / GENERATION, redact(record))
    return transcripts


def _judge(suite: Suite, client: LLMClient | None, version: str, config: JudgeConfig | None) -> Judge | None:
    if client is None or suite.make_judge is None:
        return None
    judge = suite.make_judge(client, version)
    if config is not None:
        judge.config = config
    return judge


def exclusions(transcripts: list[Transcript]) -> dict[str, int]:
    """Transcripts excluded from every metric because the model's reply did not finish, by reason."""
    return dict(sorted(Counter(f for t in transcripts if (f := t.generation_failure)).items()))


async def score_transcripts(
    suite: Suite,
    out: Path,
    judge: LLMClient | None,
    judge2: LLMClient | None = None,
    *,
    template_version: str = "v1",
    run_info: dict[str, Any] | None = None,
    judge_config: JudgeConfig | None = None,
    judge2_config: JudgeConfig | None = None,
) -> dict[str, Any]:
    """Score ``out/transcripts.jsonl``; write ``scores.jsonl`` and ``summary.json``; return the summary."""
    path = out / TRANSCRIPTS
    transcripts = read_transcripts(path)
    j1 = _judge(suite, judge, template_version, judge_config)
    j2 = _judge(suite, judge2, template_version, judge2_config or judge_config)
    rows, info = await suite.score(transcripts, j1, j2)
    write_jsonl(out / SCORES, rows)
    generation: dict[str, Any] = {}
    if (out / GENERATION).is_file():
        generation = json.loads((out / GENERATION).read_text(encoding="utf-8"))
    summary = {
        "suite": suite.name,
        "metrics": summarize_all(suite, rows),
        "exclusions": exclusions(transcripts),
        "scoring": info,
        "n_transcripts": len(transcripts),
        "transcripts_sha256": sha256_file(path),
        "usage": {**generation.get("usage", {}), **_usage({"judge": judge, "judge2": judge2})},
        "generation": generation.get("generation"),
        "run": run_info or {},
        "provenance": provenance(),
    }
    write_json(out / SUMMARY, redact(summary))
    return summary
