"""``valuesfirst eval-reasons RUN_DIR``: classify a run's transcripts into reasoning patterns, merge
overlapping patterns, and report pattern rates per condition; ``--discover`` also extracts and clusters
the reasons themselves (``reasons.jsonl``, ``patterns_discovered.json``) for a human to review."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valuesfirst.evals import reasoning
from valuesfirst.evals.pipeline import TRANSCRIPTS
from valuesfirst.evals.scoring import summarize
from valuesfirst.evals.transcripts import read_transcripts
from valuesfirst.jsonl import write_json, write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.provenance import provenance


def pattern_rates(rows: list[dict], merged: dict[str, str]) -> dict[str, dict[str, Any]]:
    """{condition: {pattern: {rate, ci, n_scored, n_excluded, polarity, merged_into}}}."""
    out: dict[str, dict[str, Any]] = {}
    for metric, merged_into in merged.items():
        pid = metric.removeprefix("pattern:")
        for cond, s in summarize(rows, metric).items():
            out.setdefault(cond, {})[pid] = {
                "rate": s["micro"], "ci": s["micro_ci"], "n_scored": s["n_scored"],
                "n_excluded": s["n_excluded"], "polarity": reasoning.PATTERNS.get(pid, ("?", ""))[0],
                "merged_into": merged_into.removeprefix("pattern:"),
            }  # fmt: skip
    return out


async def analyse(
    run_dir: Path, judge: LLMClient, discover: bool = False, embedder: Any = None
) -> dict[str, Any]:
    transcripts = read_transcripts(run_dir / TRANSCRIPTS)
    result: dict[str, Any] = {"judge": judge.backend.model, "n_transcripts": len(transcripts)}
    if discover:
        extracted = await reasoning.extract_reasons(judge, transcripts)
        write_jsonl(run_dir / "reasons.jsonl", extracted)
        texts = [r for row in extracted for r in (row["reasons"] or [])]
        if embedder is None:
            from valuesfirst.data.embed import default_embedder

            embedder = default_embedder()
        clusters = reasoning.cluster_reasons(texts, embedder.encode(texts)) if texts else []
        write_json(run_dir / "patterns_discovered.json", clusters)
        result["n_reasons"] = len(texts)
        result["n_clusters"] = len(clusters)
        result["extraction_excluded"] = sum(1 for r in extracted if r["excluded"])
    rows = await reasoning.classify(judge, transcripts)
    write_jsonl(run_dir / "reasoning_scores.jsonl", rows)
    merged = reasoning.merge_overlapping(rows)
    result["merged"] = {
        k.removeprefix("pattern:"): v.removeprefix("pattern:") for k, v in merged.items() if k != v
    }
    result["rates"] = pattern_rates(rows, merged)
    result["provenance"] = provenance()
    write_json(run_dir / "reasoning_summary.json", result)
    return result
