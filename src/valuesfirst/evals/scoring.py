"""Score rows and their summaries: per-cell rates with Wilson intervals, pooled rates, SEM over seeds,
and the paired bootstrap between two conditions.

A score row (one per transcript) is a plain dict::

    {"id", "eval", "cell", "unit", "condition", "seed", "sample",
     "metrics": {name: value or None}, "excluded": {name: reason}, "detail": {...}}

A metric is ``None`` exactly when it is excluded, and then ``excluded[name]`` says why. Summaries never
drop exclusions silently: every cell reports ``n_excluded`` and the reasons, next to the rate.

Intervals: Wilson for rates; Student t for scale means (cells are small); for suites whose unit is a
value pair scored in both presentation orders, the interval counts pairs, not presentations.

Pooling follows the MSM paper: the headline is the *macro* mean over cells (the average over the 27
agentic evals), and the *micro* rate over all scored transcripts is reported beside it. SEM is over the
per-seed macro rates (training-seed variation); Wilson intervals are per cell (sampling variation).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from valuesfirst.evals.stats import (
    paired_bootstrap_diff,
    sem,
    t_half_width,
    wilson_from_counts,
    wilson_interval,
)


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


def _interval(scored: Sequence[float], binary: bool, n: int | None = None) -> list[float] | None:
    """95% interval of the mean of ``scored``: Wilson for rates (n = ``n`` units if given, so pairs rather
    than presentations count), Student t for scale means (t, not z: cells often hold 4 items)."""
    if not scored:
        return None
    mean = sum(scored) / len(scored)
    if binary:
        return list(wilson_interval(min(1.0, max(0.0, mean)), n or len(scored)))
    half = t_half_width(scored)
    return None if half is None else [mean - half, mean + half]


def summarize_cell(
    values: Sequence[float | None], reasons: Sequence[str], units: Sequence[str] | None = None
) -> dict[str, Any]:
    """Rate (binary metrics, Wilson 95% CI) or mean (scales, Student-t 95% CI) of one cell's values.

    ``units`` (aligned with ``values``): when given, rows of the same unit are one observation (the two
    presentation orders of a value pair): the mean is over unit means and the interval counts units.
    """
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
    binary = _is_binary(scored)
    if units is not None:
        means = _unit_means([(u, v) for u, v in zip(units, values, strict=True) if v is not None])
        out.update(n_units=len(means), mean=sum(means) / len(means), k=None)
        out["ci"] = _interval(means, binary, len(means))
        return out
    k = int(sum(scored)) if binary else None
    out.update(mean=sum(scored) / len(scored), k=k)
    out["ci"] = list(wilson_from_counts(k, len(scored))) if k is not None else _interval(scored, False)
    return out


def _unit_means(pairs: Iterable[tuple[str, float]]) -> list[float]:
    by_unit: dict[str, list[float]] = defaultdict(list)
    for unit, v in pairs:
        by_unit[unit].append(v)
    return [sum(v) / len(v) for v in by_unit.values()]


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


# Evals whose rows of one unit are not independent observations: a value pair is scored in both
# presentation orders, but the pair is what was sampled (72 pairs, not 144 presentations).
PAIRED_PRESENTATION_EVALS = frozenset({"values"})


def summarize(rows: Sequence[dict], metric: str, by_unit: bool | None = None) -> dict[str, Any]:
    """Summary of one metric, per condition: cells, pooled macro/micro rate, per-seed rates and SEM.

    ``by_unit``: the rows of one unit are one observation for the intervals, and ``n_units`` is reported.
    Default (None): on exactly when every row comes from an eval in :data:`PAIRED_PRESENTATION_EVALS`;
    off for suites whose units are cells of independent samples (agentic).
    """
    if by_unit is None:
        by_unit = bool(rows) and all(r.get("eval") in PAIRED_PRESENTATION_EVALS for r in rows)
    out: dict[str, Any] = {}
    for condition, group in sorted(_group(rows, metric).items()):
        cells: dict[str, Any] = {}
        by_cell: dict[str, list[dict]] = defaultdict(list)
        for r in group:
            by_cell[r["cell"]].append(r)
        for cell, cell_rows in sorted(by_cell.items()):
            values = [r["metrics"][metric] for r in cell_rows]
            reasons = [r["excluded"][metric] for r in cell_rows if metric in r["excluded"]]
            units = [str(r["unit"]) for r in cell_rows] if by_unit else None
            cells[cell] = summarize_cell(values, reasons, units)
        scored_rows = [r for r in group if r["metrics"][metric] is not None]
        scored = [r["metrics"][metric] for r in scored_rows]
        per_seed: dict[str, float | None] = {}
        seeds = sorted({r["seed"] for r in group}, key=lambda s: (s is None, s))
        for seed in seeds:
            per_seed[str(seed)] = _macro([r for r in group if r["seed"] == seed], metric)
        seed_rates = [v for v in per_seed.values() if v is not None]
        micro = sum(scored) / len(scored) if scored else None
        binary = _is_binary(scored)
        extra: dict[str, Any] = {}
        if by_unit and scored:
            means = _unit_means((f"{r['seed']}|{r['unit']}", r["metrics"][metric]) for r in scored_rows)
            n_units = len({str(r["unit"]) for r in scored_rows})
            extra["n_units"] = n_units
            micro_ci = _interval(means, binary, n_units)
        else:
            micro_ci = _interval(scored, binary)
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
            **extra,
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
