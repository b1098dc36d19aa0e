"""Score summaries: intervals count what was sampled (value pairs, not presentations), small cells get
Student-t intervals, and eval-compare refuses to count a scores file twice."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.evals.scoring import score_row, summarize
from valuesfirst.evals.stats import wilson_interval
from valuesfirst.jsonl import write_jsonl


def _row(eval_name: str, i: int, unit: str, cell: str, value: float, condition: str = "c", seed: int = 0):  # type: ignore[no-untyped-def]
    t = SimpleNamespace(id=f"{unit}-{i}", eval=eval_name, cell=cell, unit=unit, condition=condition,
                        seed=seed, sample=0)  # fmt: skip
    return score_row(t, {"m": value}, {})


def test_values_interval_counts_pairs_not_presentations() -> None:
    # 20 pairs, each scored in both orders; 15 pairs chosen right both times, 5 wrong both times.
    rows = [_row("values", o, f"p{k}", "v/d", float(k < 15)) for k in range(20) for o in (0, 1)]
    s = summarize(rows, "m")["c"]
    assert s["n_scored"] == 40 and s["n_units"] == 20
    assert s["micro_ci"] == pytest.approx(list(wilson_interval(0.75, 20)))  # n = 20 pairs, not 40
    assert s["cells"]["v/d"]["ci"] == pytest.approx(list(wilson_interval(0.75, 20)))
    # Agentic units are cells of independent samples: every transcript counts.
    agentic = [_row("agentic", i, "cell", "cell", float(i < 30)) for i in range(40)]
    a = summarize(agentic, "m")["c"]
    assert "n_units" not in a and a["micro_ci"] == pytest.approx(list(wilson_interval(0.75, 40)))


def test_small_scale_cells_use_student_t() -> None:
    rows = [_row("spec-qa", i, f"q{i}", "qa/x", v) for i, v in enumerate([4.0, 6.0, 5.0, 7.0])]
    lo, hi = summarize(rows, "m")["c"]["cells"]["qa/x"]["ci"]
    sd = (sum((v - 5.5) ** 2 for v in [4, 6, 5, 7]) / 3) ** 0.5
    assert (hi - lo) / 2 == pytest.approx(3.182 * sd / 2, rel=1e-3)  # t(3), not z = 1.96


def test_eval_compare_refuses_a_file_given_twice(tmp_path: Path) -> None:
    a = [_row("values", o, f"p{k}", "v/d", 1.0, "a") for k in range(5) for o in (0, 1)]
    b = [_row("values", o, f"p{k}", "v/d", 0.0, "b") for k in range(5) for o in (0, 1)]
    fa, fb = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(fa, a)
    write_jsonl(fb, b)
    args = ["eval-compare", "--metric", "m", "--a", "a", "--b", "b"]
    ok = CliRunner().invoke(app, [*args, str(fa), str(fb)])
    assert ok.exit_code == 0, ok.output
    assert "p <= 0.0010" in ok.output  # never "p = 0" from a finite bootstrap
    twice = CliRunner().invoke(app, [*args, str(fa), str(fb), str(fa)])
    assert twice.exit_code == 2 and "given twice" in twice.output
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(fa.read_bytes())
    res = CliRunner().invoke(app, [*args, str(fa), str(fb), str(copy)])
    assert res.exit_code == 2 and "same content" in res.output
    # The same rows inside another file (one run's rows copied into a merged file) are refused too.
    merged = tmp_path / "merged.jsonl"
    merged.write_text(fa.read_text() + json.dumps(b[0]) + "\n")
    res = CliRunner().invoke(app, [*args, str(merged), str(fb)])
    assert res.exit_code == 2 and "already in" in res.output
