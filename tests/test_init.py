"""``valuesfirst init NAME``: the scaffold loads, preflights and checks clean, and never overwrites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.commands.init import scaffold
from valuesfirst.errors import InputError
from valuesfirst.experiment.config import load_experiment
from valuesfirst.experiment.preflight import preflight
from valuesfirst.spec import check_spec

ENV = {"COLUMNS": "300"}


def test_init_writes_a_folder_that_loads_and_preflights(tmp_path: Path) -> None:
    folder = tmp_path / "my-exp"
    res = CliRunner().invoke(app, ["init", str(folder)], env=ENV)
    assert res.exit_code == 0, res.output
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == ["README.md", "experiment.yaml", "specs/spec_a.yaml", "specs/spec_b.yaml"]
    assert f"valuesfirst run {folder / 'experiment.yaml'} --quick" in res.output
    for quick in (False, True):
        exp = load_experiment(folder / "experiment.yaml", quick=quick)
        assert exp.config.name == "my-exp" and exp.config.is_world_model
        assert preflight(exp) == []  # no notes: nothing missing, no judge to warn about
        assert {k: p.parent for k, p in exp.spec_paths.items()} == {
            "A": (folder / "specs").resolve(), "B": (folder / "specs").resolve()
        }  # fmt: skip
    quick = load_experiment(folder / "experiment.yaml", quick=True).config
    assert quick.stages["msm"].steps <= 10 and quick.pretrain.max_steps <= 50  # --quick is a smoke run
    for spec in (folder / "specs").glob("*.yaml"):
        assert check_spec(spec) == [], spec
    readme = (folder / "README.md").read_text()
    assert "__NAME__" not in readme and "__DIR__" not in readme and "my-exp" in readme
    assert f"{folder}/experiment.yaml --dry-run" in readme
    raw = yaml.safe_load((folder / "experiment.yaml").read_text())
    claims = {c["id"] for c in raw["claims"]}
    conditions = {c["name"] for c in raw["conditions"]}
    assert claims == {"identical_aft_different_values"} and {"msm_a_aft", "msm_b_aft"} <= conditions


def test_the_copied_folder_still_runs_where_it_lands(tmp_path: Path) -> None:
    scaffold(tmp_path / "a" / "exp")
    (tmp_path / "a").rename(tmp_path / "b")  # relative paths resolve against the file, not the cwd
    preflight(load_experiment(tmp_path / "b" / "exp" / "experiment.yaml", quick=True))


def test_init_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, ["init", str(folder)], env=ENV)
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InputError):
        scaffold(a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(scaffold(empty)) == 4  # an empty folder is fine


@pytest.mark.parametrize("name", ["my exp", "-x", "a/..", ".hidden", "é" * 3])
def test_init_refuses_names_that_make_bad_run_folders(tmp_path: Path, name: str) -> None:
    res = CliRunner().invoke(app, ["init", str(tmp_path / name)], env=ENV)
    assert res.exit_code == 2 and "NAME" in res.output, res.output
    assert not (tmp_path / name).exists() or name == "a/.."


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_init_then_run_quick_passes(tmp_path: Path) -> None:
    """The promise of `init`: its first `run --quick` finishes with a report (minutes: -m slow)."""
    folder = tmp_path / "exp"
    scaffold(folder)
    res = CliRunner().invoke(app, ["run", str(folder / "experiment.yaml"), "--quick", "--out",
                                   str(tmp_path / "run")], env=ENV)  # fmt: skip
    assert res.exit_code == 0, res.output
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["quick"] is True
    assert set(results["conditions"]) == {"base", "aft", "msm_a_aft", "msm_b_aft"}
    assert (tmp_path / "run" / "report.html").is_file()
