"""``--set KEY=VALUE`` on ``run`` and ``train``, and ``run --dry-run`` as the alias of ``--preview``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.commands.experiment import demo_config_path
from valuesfirst.commands.train import train_summary
from valuesfirst.errors import InputError
from valuesfirst.overrides import apply_overrides, deep_merge, parse_overrides
from valuesfirst.train.train_config import TrainConfig

BASE = {"model": {"path": "m"}, "data": {"msm": ["msm.jsonl"], "aft": ["aft.jsonl"]}}


def fields(excinfo: pytest.ExceptionInfo[InputError]) -> list[str | None]:
    return [p.field for p in excinfo.value.problems]


def test_parse_reads_values_as_yaml_and_nests_keys() -> None:
    # YAML 1.1 reads "2e-4" as a string (pydantic turns it into a float, see below); 2.0e-4 is a float.
    got = parse_overrides(["recipe.lr=2.0e-4", "seeds=[0, 1]", "recipe.lora.r=8", "name=x=y", "flag=true"])
    assert got == {"recipe": {"lr": 2e-4, "lora": {"r": 8}}, "seeds": [0, 1], "name": "x=y", "flag": True}
    assert parse_overrides([]) == {}


def test_parse_rejects_malformed_items() -> None:
    with pytest.raises(InputError) as e:
        parse_overrides(["recipe.lr", "=3", "a=[1", "b=1", "b.c=2"])
    assert fields(e) == ["--set", "--set", "--set a", "--set b.c"]


def test_apply_overrides_a_train_config() -> None:
    cfg = TrainConfig.model_validate(BASE)
    new = apply_overrides(cfg, parse_overrides(["recipe.lr=2e-4", "seed=7", "output_dir=runs/x"]))
    assert (new.recipe.lr, new.seed, new.output_dir) == (2e-4, 7, Path("runs/x"))
    assert new.recipe.lora == cfg.recipe.lora  # untouched siblings survive the merge
    assert apply_overrides(cfg, {}) is cfg
    with pytest.raises(InputError) as e:
        apply_overrides(cfg, parse_overrides(["recipe.lrr=1", "ordering=sideways"]))
    assert sorted(f or "" for f in fields(e)) == ["--set ordering", "--set recipe.lrr"]


def test_deep_merge_does_not_touch_its_inputs() -> None:
    base = {"a": {"b": 1, "c": [1]}}
    merged = deep_merge(base, {"a": {"b": 2}})
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}} and merged == {"a": {"b": 2, "c": [1, 2]}}


def test_train_summary_is_short_and_names_the_record() -> None:
    lines = train_summary(TrainConfig.model_validate({**BASE, "seed": 3}))
    assert len(lines) == 4 and lines[0] == "model: m" and "msm 1 file(s), aft 1 file(s)" in lines[1]
    assert "msm → aft" in lines[2] and lines[3].startswith("seed 3; output: runs/train")


def test_run_dry_run_is_preview_and_takes_set(tmp_path: Path) -> None:
    args = ["run", str(demo_config_path()), "--out", str(tmp_path / "r"), "--set", "seeds=[0]"]
    res = CliRunner().invoke(app, [*args, "--dry-run"], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    assert "8 conditions x 1 seeds [0]" in res.output and "no call made" in res.output
    assert not (tmp_path / "r").exists()  # a dry run writes nothing
