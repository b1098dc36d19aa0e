"""``eval-compare``: a readable table, Markdown + JSON files, and wrong names answered with the right ones."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.commands.eval_compare import default_out

ENV = {"COLUMNS": "300"}


def write_scores(path: Path, condition: str, seed: int, values: list[float | None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": f"{condition}-{seed}-{i}", "unit": f"u{i}", "cell": f"c{i % 2}", "condition": condition,
         "seed": seed, "metrics": {"harmful": v, "refusal": 1.0},
         "excluded": {} if v is not None else {"harmful": "generation_error"}}
        for i, v in enumerate(values)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def files(tmp_path: Path) -> list[str]:
    return [
        str(write_scores(tmp_path / "evals" / f"{c}{s}" / "scores.jsonl", c, s, v))
        for c, s, v in (
            ("base", 0, [1.0, 1.0, 0.0, None]),
            ("base", 1, [1.0, 0.0, 1.0, 1.0]),
            ("msm", 0, [0.0, 0.0, 0.0, 0.0]),
            ("msm", 1, [0.0, 1.0, 0.0, 0.0]),
        )
    ]


def compare(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["eval-compare", *args], env=ENV)


def test_table_and_files_default_next_to_inputs(tmp_path: Path) -> None:
    res = compare([*files(tmp_path), "--metric", "harmful", "--a", "base", "--b", "msm"])
    assert res.exit_code == 0, res.output
    stem = tmp_path / "evals" / "compare-harmful-base-vs-msm"
    result = json.loads(stem.with_suffix(".json").read_text())
    assert set(result["summary"]) == {"base", "msm"}
    assert result["summary"]["base"]["n_excluded"] == 1
    assert result["comparison"]["n_units_dropped"] == 1  # u3 is unscored in base seed 0
    md = stem.with_suffix(".md").read_text()
    assert md.count("| base |") == 1 and md.count("| msm |") == 1 and "±SEM seeds" in md
    assert "generation_error: 1" in md and "paired bootstrap" in md
    assert "base − msm = +" in res.output and "{" not in res.output  # a table, not JSON


def test_explicit_out_with_or_without_suffix(tmp_path: Path) -> None:
    inputs = files(tmp_path)
    for given in (tmp_path / "x" / "cmp", tmp_path / "y" / "cmp.md"):
        res = compare([*inputs, "--metric", "harmful", "--a", "msm", "--b", "base", "--out", str(given)])
        assert res.exit_code == 0, res.output
        assert (given.parent / "cmp.md").is_file() and (given.parent / "cmp.json").is_file()
        assert json.loads((given.parent / "cmp.json").read_text())["comparison"]["a"] == "msm"


def test_unknown_metric_names_the_metrics_that_exist(tmp_path: Path) -> None:
    res = compare([*files(tmp_path), "--metric", "harmfull", "--a", "base", "--b", "msm"])
    assert res.exit_code == 2
    assert "--metric" in res.output and "'harmfull'" in res.output and "['harmful', 'refusal']" in res.output
    assert not list(tmp_path.rglob("compare-*"))


def test_unknown_conditions_name_the_conditions_that_exist(tmp_path: Path) -> None:
    res = compare([*files(tmp_path), "--metric", "harmful", "--a", "msm_a_aft", "--b", "nope"])
    assert res.exit_code == 2
    out = res.output
    assert "--a" in out and "'msm_a_aft'" in out and "--b" in out and "'nope'" in out
    assert "['base', 'msm']" in out
    res = compare([*files(tmp_path), "--metric", "harmful", "--a", "base", "--b", "base"])
    assert res.exit_code == 2 and "same condition" in res.output


def test_degenerate_inputs(tmp_path: Path) -> None:
    res = compare([str(tmp_path / "missing.jsonl"), "--metric", "harmful", "--a", "a", "--b", "b"])
    assert res.exit_code == 2 and "no such scores file" in res.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    res = compare([str(empty), "--metric", "harmful", "--a", "a", "--b", "b"])
    assert res.exit_code == 2 and "metrics in these files: none" in res.output
    res = compare([*files(tmp_path), "--metric", "harmful", "--a", "base", "--b", "msm", "--scale-high", "0"])
    assert res.exit_code == 2 and "--scale-high" in res.output


def test_default_out_is_the_shared_folder(tmp_path: Path) -> None:
    a, b = tmp_path / "r" / "a" / "scores.jsonl", tmp_path / "r" / "b" / "scores.jsonl"
    assert default_out([a, b], "m", "x", "y") == (tmp_path / "r" / "compare-m-x-vs-y").resolve()
    assert default_out([a], "a/b", "x y", "z") == (tmp_path / "r" / "a" / "compare-a_b-x_y-vs-z").resolve()
