"""From evaluation stages to ``results.json``: per condition and metric, rates over seeds and claims.

Every eval stage leaves ``units.json`` (``{metric: {unit: score}}``, see experiment/evaluate.py). For each
metric the units are those scored in every (condition, seed) of the experiment: a unit excluded anywhere is
excluded everywhere (and counted), so conditions are always compared on the same units and the paired
statistics stay paired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from valuesfirst.evals.claims import evaluate_claims
from valuesfirst.evals.stats import summarize_condition
from valuesfirst.experiment.config import ExperimentConfig
from valuesfirst.experiment.evaluate import UNITS
from valuesfirst.jsonl import read_json

Runs = Mapping[tuple[str, int], Path]  # (condition, seed) -> eval stage folder of one suite


def per_seed_scores(
    runs: Mapping[str, Runs], metrics: Sequence[str]
) -> tuple[dict[str, dict[str, dict[int, list[float]]]], dict[str, dict[str, Any]]]:
    """``{metric: {condition: {seed: [unit scores]}}}`` on the common units, and per-metric unit counts."""
    out: dict[str, dict[str, dict[int, list[float]]]] = {}
    counts: dict[str, dict[str, Any]] = {}
    loaded: dict[Path, dict[str, Any]] = {}
    for metric in metrics:
        suite = metric.split(".", 1)[0]
        cells = {k: loaded.setdefault(p, read_json(p / UNITS)) for k, p in runs[suite].items()}
        # A metric an eval stage does not list had every sample excluded there: no unit, counted below.
        per_cell = {k: v["units"].get(metric, {}) for k, v in cells.items()}
        all_units = set().union(*(set(v) for v in per_cell.values()))
        common = sorted(set.intersection(*(set(v) for v in per_cell.values())))
        excluded: dict[str, int] = {}
        for v in cells.values():
            for reason, n in v.get("excluded", {}).get(metric, {}).items():
                excluded[reason] = excluded.get(reason, 0) + n
        counts[metric] = {
            "units": len(common),
            "units_dropped": len(all_units) - len(common),
            "excluded_samples": excluded,
        }
        if not common:
            continue
        table: dict[str, dict[int, list[float]]] = {}
        for (cond, seed), scores in per_cell.items():
            table.setdefault(cond, {})[seed] = [scores[u] for u in common]
        out[metric] = table
    return out, counts


def metric_names(cfg: ExperimentConfig, runs: Mapping[str, Runs]) -> list[str]:
    """Every metric the eval stages reported, the headline first."""
    names: list[str] = []
    for suite in cfg.eval.names():
        found: set[str] = set()
        for path in runs[suite].values():
            data = read_json(path / UNITS)
            found |= set(data["units"]) | set(data.get("excluded", {}))
        names += sorted(found)
    head = cfg.eval.headline
    return [head] + [n for n in names if n != head and not n.endswith(".soft")]


def build_results(cfg: ExperimentConfig, runs: Mapping[str, Runs]) -> dict[str, Any]:
    """Conditions (headline metric + every other metric) and claims, as results.json holds them."""
    names = metric_names(cfg, runs)
    soft_names = [f"{n}.soft" for n in names]
    scores, counts = per_seed_scores(runs, names + soft_names)
    head = cfg.eval.headline
    if head not in scores:
        raise ValueError(f"no units of the headline metric {head!r} were scored in every condition and seed")
    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    for metric in names:
        if metric not in scores:
            continue
        summaries[metric] = {}
        for cond in cfg.conditions:
            soft = scores.get(f"{metric}.soft", {}).get(cond.name)
            summaries[metric][cond.name] = summarize_condition(scores[metric][cond.name], soft)
    conditions = {}
    for cond in cfg.conditions:
        head_summary = summaries[head][cond.name]
        conditions[cond.name] = {
            "label": cond.label,
            "description": cond.description,
            "steps": cond.steps,
            **head_summary,
            "controls": {
                m.split(".", 1)[1] if m.startswith(head + ".") else m: summaries[m][cond.name]["rate"]
                for m in summaries
                if m != head
            },
            "metrics": {m: summaries[m][cond.name] for m in summaries},
        }
    claims = []
    for claim in cfg.claims:
        metric = claim.metric or head
        if metric not in summaries:
            claims.append(
                {"id": claim.id, "title": claim.title, "kind": claim.kind, "metric": metric, "holds": None,
                 "reason": f"metric {metric!r} has no unit scored in every condition and seed"}
            )  # fmt: skip
            continue
        (result,) = evaluate_claims([claim], summaries[metric], scores[metric])
        claims.append({**result, "metric": metric})
    return {"conditions": conditions, "claims": claims, "metrics": counts, "metric_names": list(summaries)}
