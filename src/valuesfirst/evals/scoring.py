"""Score rows and their summaries: per-cell rates with Wilson intervals, pooled rates, SEM over seeds,
and the paired bootstrap between two conditions.

A score row (one per transcript) is a plain dict::

    {"id", "eval", "cell", "unit", "condition", "seed", "sample",
     "metrics": {name: value or None}, "excluded": {name: reason}, "detail": {...}}

A metric is ``None`` exactly when it is excluded, and then ``excluded[name]`` says why. Summaries never
drop exclusions silently: every cell reports ``n_excluded`` and the reasons, next to the rate.

Pooling follows the MSM paper: the headline is the *macro* mean over cells (the average over the 27
agentic evals), and the *micro* rate over all scored transcripts is reported beside it. SEM is over the
per-seed macro rates (training-seed variation); Wilson intervals are per cell (sampling variation).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from valuesfirst.evals.stats import Z_95, paired_bootstrap_diff, sem, wilson_from_counts, wilson_interval


def score_row(t: Any, metrics: dict[str, float | None], excluded: dict[str, str], **detail: Any) -> dict:
    """Build a score row for transcript ``t``; asserts the None-iff-excluded invariant."""
    for name, value in metrics.items():
        if (value is None) != (name in excluded):
            raise ValueError(f"metric {name!r}: value {value!r} but exclusion {excluded.get(name)!r}")
    return {
        "id": t.id,
        "eval": t.eval,
        "cell": t.cell,
        "unit": t.unit,
        "condition": t.condition,
        "seed": t.seed,
        "sample": t.sample,
        "metrics": metrics,
        "excluded": excluded,
        "detail": detail,
    }


def _is_binary(values: Iterable[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def summarize_cell(values: Sequence[float | None], reasons: Sequence[str]) -> dict[str, Any]:
    """Rate (binary metrics, Wilson 95% CI) or mean (scales, normal 95% CI) of one cell's scored values."""
    scored = [v for v in values if v is not None]
    out: dict[str, Any] = {
        "n_total": len(values),
        "n_scored": len(scored),
        "n_excluded": len(values) - len(scored),
        "excluded_by_reason": dict(Counter(reasons)),
    }
    if not scored:
        out.update(mean=None, ci=None, k=None)
        return out
    mean = sum(scored) / len(scored)
    if _is_binary(scored):
        k = int(sum(scored))
        out.update(mean=mean, k=k, ci=list(wilson_from_counts(k, len(scored))))
    else:
        s = sem(scored)
        half = Z_95 * s if s is not None else None
        out.update(mean=mean, k=None, ci=[mean - half, mean + half] if half is not None else None)
    return out


def _group(rows: Sequence[dict], metric: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if metric in r["metrics"]:
            groups[r["condition"] or "model"].append(r)
    return groups


def _macro(rows: Sequence[dict], metric: str) -> float | None:
    """Mean over cells of each cell's mean scored value (cells with nothing scored are left out)."""
    by_cell: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        v = r["metrics"][metric]
        if v is not None:
            by_cell[r["cell"]].append(v)
    means = [sum(v) / len(v) for v in by_cell.values() if v]
    return sum(means) / len(means) if means else None


def summarize(rows: Sequence[dict], metric: str) -> dict[str, Any]:
    """Summary of one metric, per condition: cells, pooled macro/micro rate, per-seed rates and SEM."""
    out: dict[str, Any] = {}
    for condition, group in sorted(_group(rows, metric).items()):
        cells: dict[str, Any] = {}
        by_cell: dict[str, list[dict]] = defaultdict(list)
        for r in group:
            by_cell[r["cell"]].append(r)
        for cell, cell_rows in sorted(by_cell.items()):
            values = [r["metrics"][metric] for r in cell_rows]
            reasons = [r["excluded"][metric] for r in cell_rows if metric in r["excluded"]]
            cells[cell] = summarize_cell(values, reasons)
        scored = [r["metrics"][metric] for r in group if r["metrics"][metric] is not None]
        per_seed: dict[str, float | None] = {}
        seeds = sorted({r["seed"] for r in group}, key=lambda s: (s is None, s))
        for seed in seeds:
            per_seed[str(seed)] = _macro([r for r in group if r["seed"] == seed], metric)
        seed_rates = [v for v in per_seed.values() if v is not None]
        micro = sum(scored) / len(scored) if scored else None
        micro_ci = None
        if scored and _is_binary(scored):
            micro_ci = list(wilson_interval(micro or 0.0, len(scored)))
        out[condition] = {
            "metric": metric,
            "macro": _macro(group, metric),
            "micro": micro,
            "micro_ci": micro_ci,
            "sem_over_seeds": sem(seed_rates) if len(seed_rates) >= 2 else None,
            "per_seed": per_seed,
            "n_total": len(group),
            "n_scored": len(scored),
            "n_excluded": len(group) - len(scored),
            "excluded_by_reason": dict(
                Counter(r["excluded"][metric] for r in group if metric in r["excluded"])
            ),
            "cells": cells,
        }
    return out


def _seed_units(rows: Sequence[dict], metric: str, lo: float, hi: float) -> dict[int, dict[str, list[float]]]:
    """{seed: {unit: normalized scored values}}; a missing seed label counts as seed 0."""
    by_seed: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        v = r["metrics"][metric]
        if v is not None:
            by_seed[int(r["seed"]) if r["seed"] is not None else 0][r["unit"]].append((v - lo) / (hi - lo))
    return by_seed


def compare_conditions(
    rows: Sequence[dict],
    metric: str,
    a: str,
    b: str,
    scale: tuple[float, float] = (0.0, 1.0),
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Paired bootstrap of ``rate(a) - rate(b)`` over the units (cells or pairs) both conditions scored.

    Values are mapped to [0, 1] with ``scale`` (e.g. ``(1, 10)`` for rubric scores) so the bootstrap of
    :mod:`valuesfirst.evals.stats` applies; the difference is reported on that normalized scale. Units that
    some seed of either condition left without a scored value are dropped and counted (``n_units_dropped``).
    """
    groups = _group(rows, metric)
    for name in (a, b):
        if name not in groups:
            raise ValueError(f"compare_conditions: no scores for condition {name!r} (have {sorted(groups)})")
    lo, hi = scale
    seeds_a, seeds_b = _seed_units(groups[a], metric, lo, hi), _seed_units(groups[b], metric, lo, hi)
    unit_sets = [set(u) for u in (*seeds_a.values(), *seeds_b.values())]
    every = set.union(*unit_sets) if unit_sets else set()
    units = sorted(set.intersection(*unit_sets)) if unit_sets else []
    mat_a = {s: [sum(u[k]) / len(u[k]) for k in units] for s, u in seeds_a.items()}
    mat_b = {s: [sum(u[k]) / len(u[k]) for k in units] for s, u in seeds_b.items()}
    if not units:
        return {"a": a, "b": b, "n_units": len(units), "bootstrap": None, "reason": "no shared scored units"}
    boot = paired_bootstrap_diff(mat_a, mat_b, n_boot=n_boot)
    return {
        "a": a,
        "b": b,
        "n_units": len(units),
        "n_units_dropped": len(every) - len(units),
        "seeds_a": sorted(mat_a),
        "seeds_b": sorted(mat_b),
        "bootstrap": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in boot.items()},
    }
