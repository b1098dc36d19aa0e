"""Run a suite into a folder: ``transcripts.jsonl`` (generation), then ``scores.jsonl`` + ``summary.json``.

``rescore`` reads an existing ``transcripts.jsonl`` and scores it again (another judge, a second judge)
without calling the model under test. ``summary.json`` records the generation and judge settings, the
prompt-template hashes, token usage and software provenance, with secrets redacted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valuesfirst.evals.judge import Judge
from valuesfirst.evals.runner import GenerationConfig, generate
from valuesfirst.evals.suites import Suite, SuiteOptions, summarize_all
from valuesfirst.evals.transcripts import Transcript, read_transcripts, with_labels, write_transcripts
from valuesfirst.jsonl import sha256_file, write_json, write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.provenance import provenance, redact

TRANSCRIPTS = "transcripts.jsonl"
SCORES = "scores.jsonl"
SUMMARY = "summary.json"


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
    items = suite.build(options)
    if suite.generate is not None:
        transcripts = await suite.generate(model, items, gen, attacker=attacker)
    else:
        transcripts = await generate(model, items, gen, suite.name)
    with_labels(transcripts, condition, seed)
    write_transcripts(out / TRANSCRIPTS, transcripts)
    return transcripts


def _judge(suite: Suite, client: LLMClient | None, version: str) -> Judge | None:
    if client is None or suite.make_judge is None:
        return None
    return suite.make_judge(client, version)


async def score_transcripts(
    suite: Suite,
    out: Path,
    judge: LLMClient | None,
    judge2: LLMClient | None = None,
    *,
    template_version: str = "v1",
    run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``out/transcripts.jsonl``; write ``scores.jsonl`` and ``summary.json``; return the summary."""
    path = out / TRANSCRIPTS
    transcripts = read_transcripts(path)
    j1, j2 = _judge(suite, judge, template_version), _judge(suite, judge2, template_version)
    rows, info = await suite.score(transcripts, j1, j2)
    write_jsonl(out / SCORES, rows)
    usage = {}
    for name, client in (("judge", judge), ("judge2", judge2)):
        if client is not None and hasattr(client.usage, "to_json"):
            usage[name] = client.usage.to_json()
    summary = {
        "suite": suite.name,
        "metrics": summarize_all(suite, rows),
        "scoring": info,
        "n_transcripts": len(transcripts),
        "transcripts_sha256": sha256_file(path),
        "usage": usage,
        "run": run_info or {},
        "provenance": provenance(),
    }
    write_json(out / SUMMARY, redact(summary))
    return summary
