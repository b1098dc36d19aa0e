"""The user's shared stage cache: a second run folder copies the world and its pre-trained base instead of
rebuilding them, only when the copy verifies, and never when the cache is off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from valuesfirst.artifacts import verify_stage
from valuesfirst.cli import app
from valuesfirst.commands.experiment import demo_config_path
from valuesfirst.experiment.config import load_experiment
from valuesfirst.experiment.runner import Runner, shared_stage_cache


def base_stages(run_dir: Path, cache: Path | None) -> tuple[Runner, dict]:
    """The world and pre-trained base of the quick demo in ``run_dir``, through ``cache``."""
    exp = load_experiment(demo_config_path(), quick=True)
    runner = Runner(exp, run_dir, Console(record=True, width=400), cache)
    world = runner.world_stage()
    pretrain = runner.pretrain_stage(world)
    return runner, {"world": world, "pretrain": pretrain}


def model_bytes(stage_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((stage_path / "model").iterdir()) if p.is_file()}


def test_a_second_run_folder_copies_the_base_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, first = base_stages(tmp_path / "one", cache)
    assert not first["world"].reused and not first["pretrain"].reused
    cached = {p.name for p in (cache / "stages").iterdir() if not p.name.startswith(".")}
    assert cached == {first["world"].path.name, first["pretrain"].path.name}

    runner, second = base_stages(tmp_path / "two", cache)
    for kind in ("world", "pretrain"):
        assert second[kind].reused and second[kind].key == first[kind].key
        assert second[kind].path.parent == tmp_path / "two" / "stages"  # a copy in the new folder
        assert verify_stage(second[kind].path) == []
        # the manifest is the builder's (its provenance says where and when the stage was built)
        assert second[kind].manifest == first[kind].manifest
    assert model_bytes(second["pretrain"].path) == model_bytes(first["pretrain"].path)
    assert "copied from the shared cache" in runner.console.export_text()
    assert not list((tmp_path / "two" / "stages").glob(".tmp-*"))  # no temp folder left behind


def test_a_damaged_cache_entry_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, first = base_stages(tmp_path / "one", cache)
    weights = next((cache / "stages" / first["pretrain"].path.name / "model").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # same size, other content

    runner, second = base_stages(tmp_path / "two", cache)
    assert second["world"].reused  # the sound entry is still used
    assert not second["pretrain"].reused  # the damaged one is rebuilt here...
    assert model_bytes(second["pretrain"].path) == model_bytes(first["pretrain"].path)  # ...to the same bytes
    assert "fails verification (content differs from manifest); rebuilding" in runner.console.export_text()


def test_without_a_cache_every_folder_builds_its_own(tmp_path: Path) -> None:
    _, first = base_stages(tmp_path / "one", None)
    _, second = base_stages(tmp_path / "two", None)
    assert not second["pretrain"].reused and second["pretrain"].key == first["pretrain"].key


@pytest.mark.parametrize(
    ("value", "expected"),
    [("off", None), ("0", None), ("", "default"), ("/somewhere/stages", Path("/somewhere/stages"))],
)
def test_the_cache_location_comes_from_the_environment(
    value: str, expected: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VALUESFIRST_STAGE_CACHE", value)
    monkeypatch.setenv("VALUESFIRST_CACHE", str(tmp_path))
    want = tmp_path / "stages" if expected == "default" else expected
    assert shared_stage_cache() == want


@pytest.mark.slow
def test_the_quick_demo_in_a_new_folder_reuses_the_cached_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI: same results from a new folder, with the world and pre-training copied, not built;
    ``--no-shared-cache`` builds them again."""
    monkeypatch.setenv("VALUESFIRST_STAGE_CACHE", str(tmp_path / "cache"))

    def demo(out: Path, *extra: str) -> dict:
        res = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), *extra], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        return dict(json.loads((out / "results.json").read_text(encoding="utf-8")))

    def reused(results: dict) -> dict[str, bool]:
        return {s["kind"]: s["reused"] for s in results["stages"] if s["kind"] in ("world", "pretrain")}

    first, second = demo(tmp_path / "one"), demo(tmp_path / "two")
    assert reused(first) == {"world": False, "pretrain": False}
    assert reused(second) == {"world": True, "pretrain": True}
    assert second["conditions"] == first["conditions"] and second["claims"] == first["claims"]
    third = demo(tmp_path / "three", "--no-shared-cache")
    assert reused(third) == {"world": False, "pretrain": False}
