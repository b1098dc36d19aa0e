"""``valuesfirst eval-compare``: pool score files of several checkpoints, compare two conditions.

Prints a table (one row per condition, then A − B by paired bootstrap) and writes the same as Markdown
and JSON (default: ``compare-METRIC-A-vs-B.{md,json}`` in the folder the inputs share). A metric or
condition that is not in the files is an input error (exit 2) naming the ones that are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from valuesfirst.commands.ui import console, err_console, fail
from valuesfirst.errors import InputError, Problem

COLUMNS = ("condition", "macro", "micro", "95% CI (micro)", "±SEM seeds", "seeds", "scored", "excluded")
LEGEND = (
    "macro: mean over cells (scenario or item groups) of each cell's mean; micro: mean over every scored "
    "row, with its 95% interval (Wilson for 0/1 scores, Student t for "
    "scale means); ±SEM seeds: standard error over training seeds "
    "(– with one seed); excluded: rows without a usable score (an errored generation, an unparseable "
    "verdict), counted and never scored. A − B: observed difference of the rates on the [scale-low, "
    "scale-high] → [0, 1] scale, 95% percentile interval and two-sided p of a paired bootstrap over the "
    "units both conditions scored (units one side lacks are dropped and counted)."
)


def check_names(rows: list[dict[str, Any]], metric: str, a: str, b: str) -> None:
    """InputError naming what exists when ``metric`` is in no row, or ``a``/``b`` has no score of it."""
    metrics = sorted({m for r in rows for m in r["metrics"]})
    if metric not in metrics:
        raise InputError.single(
            f"no score row has metric {metric!r}; metrics in these files: {metrics or 'none'}",
            field="--metric",
        )
    have = sorted({r["condition"] or "model" for r in rows if metric in r["metrics"]})
    problems = [
        Problem(None, None, flag, f"condition {name!r} has no {metric!r} scores; conditions that do: {have}")
        for flag, name in (("--a", a), ("--b", b))
        if name not in have
    ]
    if a == b:
        problems.append(Problem(None, None, "--b", f"is the same condition as --a ({a!r})"))
    if problems:
        raise InputError(problems)


def default_out(scores: list[Path], metric: str, a: str, b: str) -> Path:
    """``compare-METRIC-A-vs-B`` in the folder the score files share (runs/eval for runs/eval/*/…)."""
    common = Path(os.path.commonpath([str(p.resolve().parent) for p in scores]))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"compare-{metric}-{a}-vs-{b}")
    return common / safe


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row of strings per condition, in COLUMNS order."""
    rows = []
    for cond, s in summary.items():
        ci = s["micro_ci"]
        reasons = ", ".join(f"{k}: {v}" for k, v in s["excluded_by_reason"].items())
        rows.append(
            [
                cond,
                _f(s["macro"]),
                _f(s["micro"]),
                "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]",
                _f(s["sem_over_seeds"]),
                str(len(s["per_seed"])),
                str(s["n_scored"]),
                f"{s['n_excluded']}" + (f" ({reasons})" if reasons else ""),
            ]
        )
    return rows


def comparison_line(comparison: dict[str, Any]) -> str:
    """``A − B = +0.123 [+0.05, +0.20], p 0.004 (n units, k dropped)`` or why there is no comparison."""
    boot = comparison.get("bootstrap")
    head = f"{comparison['a']} − {comparison['b']}"
    if not boot:
        return f"{head}: not computed ({comparison.get('reason', 'no shared scored units')})"
    p = boot["p_two_sided"]
    p_text = f"p <= {boot['p_min']:.4f}" if p <= boot["p_min"] else f"p {p:.4f}"
    return (
        f"{head} = {boot['mean']:+.3f}, 95% CI [{boot['ci_low']:+.3f}, {boot['ci_high']:+.3f}], {p_text} "
        f"(paired bootstrap over {comparison['n_units']} units, "
        f"{comparison.get('n_units_dropped', 0)} dropped)"
    )


def markdown(result: dict[str, Any], metric: str, scores: list[Path]) -> str:
    lines = [f"# eval-compare: {metric}", "", "inputs: " + ", ".join(f"`{p}`" for p in scores), ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(result["summary"])]
    lines += ["", "**" + comparison_line(result["comparison"]) + "**", "", LEGEND, ""]
    return "\n".join(lines)


def eval_compare(
    scores: Annotated[list[Path], typer.Argument(help="scores.jsonl files (any number of checkpoints)")],
    metric: Annotated[str, typer.Option(help="metric to compare")],
    a: Annotated[str, typer.Option(help="condition A")],
    b: Annotated[str, typer.Option(help="condition B")],
    scale_low: Annotated[float, typer.Option(help="metric minimum (1 for 1–10 rubrics)")] = 0.0,
    scale_high: Annotated[float, typer.Option(help="metric maximum (10 for 1–10 rubrics)")] = 1.0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="write OUT.md and OUT.json (default: compare-METRIC-A-vs-B in the inputs' shared folder)"
        ),
    ] = None,
) -> None:
    """Pool score files; per-condition rates with SEM over seeds; paired bootstrap of A − B."""
    from valuesfirst.evals.pooling import pooled_score_rows
    from valuesfirst.evals.scoring import compare_conditions, summarize
    from valuesfirst.jsonl import write_json

    if scale_high <= scale_low:
        fail(InputError.single(f"must be above --scale-low ({scale_low})", field="--scale-high"))
    try:
        rows = pooled_score_rows(scores)
        check_names(rows, metric, a, b)
        summary = {
            c: {k: v for k, v in s.items() if k != "cells"} for c, s in summarize(rows, metric).items()
        }
        comparison = compare_conditions(rows, metric, a, b, scale=(scale_low, scale_high))
    except (InputError, ValueError) as e:
        fail(e)
    result = {
        "metric": metric,
        "scale": [scale_low, scale_high],
        "inputs": [str(p) for p in scores],
        "summary": summary,
        "comparison": comparison,
    }
    table = Table(title=f"{metric}: {a} vs {b}")
    for col in COLUMNS:
        table.add_column(col)
    for row in table_rows(summary):
        table.add_row(*row, style="bold" if row[0] in (a, b) else None)
    console.print(table)
    console.print(comparison_line(comparison), highlight=False)
    stem = out if out is not None else default_out(scores, metric, a, b)
    stem = stem.with_suffix("") if stem.suffix in (".md", ".json") else stem
    md, js = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".json")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(markdown(result, metric, scores), encoding="utf-8")
    write_json(js, result)
    console.print(f"written: {md}, {js}", highlight=False)
    boot = comparison.get("bootstrap") or {}
    if boot and boot["p_two_sided"] <= boot["p_min"]:
        err_console.print(f"p <= {boot['p_min']:.4f}: below the resolution of the bootstrap's draws")


def register(app: typer.Typer) -> None:
    """Add ``valuesfirst eval-compare`` to the top-level app."""
    app.command("eval-compare")(eval_compare)
