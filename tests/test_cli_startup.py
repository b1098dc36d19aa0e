"""Input errors fail fast: exit 2, a message naming the file/line/field, and torch never imported.

Each case runs the real command line in a fresh interpreter through a small shim that, when the command
exits, prints which heavy modules the process imported. Timing is not asserted (it depends on the
machine); benchmarks/cli_startup.md records it. The point pinned here is the cause of slowness: an input
error must not pay for importing torch or transformers (seconds to tens of seconds on a loaded CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import valuesfirst

SRC = Path(valuesfirst.__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "accelerate", "openai")
# Runs the app; on the way out (SystemExit included) reports the heavy modules that were imported.
SHIM = f"""
import json, sys
try:
    from valuesfirst.cli import app
    app()
finally:
    print("HEAVY=" + json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)
"""


def run_cli(args: list[str], cwd: Path) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr without the shim's line, heavy modules imported)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "1000", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SHIM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.splitlines()
    heavy_line = [ln for ln in lines if ln.startswith("HEAVY=")]
    assert heavy_line, f"the shim did not report (crashed?):\n{proc.stderr}"
    stderr = "\n".join(ln for ln in lines if not ln.startswith("HEAVY="))
    return proc.returncode, proc.stdout, stderr, json.loads(heavy_line[-1][len("HEAVY=") :])


@pytest.fixture
def typo_configs(tmp_path: Path) -> Path:
    (tmp_path / "typo_train.yaml").write_text(
        "model:\n  path: m\ndata:\n  msm: [msm.jsonl]\n  aft: [aft.jsonl]\nrecipee:\n  lr: 1.0e-3\n",
        encoding="utf-8",
    )
    (tmp_path / "ok_train.yaml").write_text(
        "model:\n  path: m\ndata:\n  msm: [msm.jsonl]\n  aft: [aft.jsonl]\n", encoding="utf-8"
    )
    demo = (SRC / "valuesfirst" / "configs" / "demo.yaml").read_text(encoding="utf-8")
    typo = demo.replace("\nname: embedded-cheese\n", "\nnmae: embedded-cheese\n")
    assert typo != demo, "demo.yaml changed: this fixture needs its `name:` line"
    (tmp_path / "typo_exp.yaml").write_text(typo, encoding="utf-8")
    # Away from its specs (relative paths): fine for `--set` errors, which loading finds before preflight.
    (tmp_path / "demo.yaml").write_text(demo, encoding="utf-8")
    (tmp_path / "scores.jsonl").write_text(
        json.dumps(
            {"id": "i1", "unit": "u1", "cell": "c", "condition": "base", "seed": 0, "excluded": None,
             "metrics": {"harmful": 1.0}}
        ) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    return tmp_path


CASES = {
    "run missing file": (["run", "nope.yaml"], ["nope.yaml", "file not found"]),
    "run unknown field": (["run", "typo_exp.yaml"], ["typo_exp.yaml:6:", "`nmae`", "did you mean `name`"]),
    "run --preview unknown field": (["run", "--preview", "typo_exp.yaml"], ["typo_exp.yaml:6:", "`nmae`"]),
    "train missing file": (["train", "nope.yaml"], ["nope.yaml", "file not found"]),
    "train unknown field": (["train", "typo_train.yaml"], ["typo_train.yaml:6:", "did you mean `recipe`"]),
    "train --set unknown field": (
        ["train", "ok_train.yaml", "--set", "recipe.lrr=1e-4"],
        ["--set recipe.lrr", "Extra inputs"],
    ),
    "train --set bad value": (["train", "ok_train.yaml", "--set", "recipe.lr=-1"], ["--set recipe.lr"]),
    "train --set not KEY=VALUE": (["train", "ok_train.yaml", "--set", "recipe.lr"], ["is not KEY=VALUE"]),
    "run --dry-run --set unknown field": (
        ["run", "--dry-run", "demo.yaml", "--set", "stages.msm.stepz=3"],
        ["--set stages.msm.stepz"],
    ),
    "train missing model and data": (
        ["train", "ok_train.yaml"],
        ["model path does not exist: m", "msm.jsonl: field `data.msm`: file does not exist", "aft.jsonl"],
    ),
    "eval without --model": (["eval", "agentic"], ["--model is required"]),
    "eval unknown suite": (["eval", "nonsense", "--model", "vllm:m"], ["unknown suite 'nonsense'"]),
    "eval-compare unknown metric": (
        ["eval-compare", "scores.jsonl", "--metric", "nope", "--a", "base", "--b", "msm"],
        ["metric 'nope'", "harmful"],
    ),
    "spec check missing file": (["spec", "check", "nope.yaml"], ["nope.yaml"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_input_error_exits_2_before_heavy_imports(case: str, typo_configs: Path) -> None:
    args, expected = CASES[case]
    code, stdout, stderr, heavy = run_cli(args, typo_configs)
    assert code == 2, f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    for text in expected:
        assert text in stderr, f"{text!r} not in stderr:\n{stderr}"
    assert heavy == [], f"{case}: imported {heavy} before reporting an input error"
    assert len(stdout.splitlines()) <= 3, f"an input error should not flood stdout:\n{stdout}"
    assert not (typo_configs / "runs").exists(), "an input error created a run folder"


def test_version_is_instant_and_exits_0(tmp_path: Path) -> None:
    code, stdout, _, heavy = run_cli(["--version"], tmp_path)
    assert code == 0 and stdout.strip() == f"valuesfirst {valuesfirst.__version__}"
    assert heavy == []


def test_help_lists_every_command_without_heavy_imports(tmp_path: Path) -> None:
    code, stdout, _, heavy = run_cli(["--help"], tmp_path)
    assert code == 0 and heavy == []
    for command in ("run", "demo", "report", "train", "eval", "eval-compare", "spec", "generate", "data"):
        assert f" {command} " in stdout, f"{command} missing from --help"


def test_cli_module_only_assembles() -> None:
    """cli.py defines no command itself, and no command module imports cli.py (no import cycle)."""
    cli_text = (SRC / "valuesfirst" / "cli.py").read_text(encoding="utf-8")
    assert "@app.command" not in cli_text and "Console(" not in cli_text
    for module in (SRC / "valuesfirst" / "commands").glob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "valuesfirst.cli" not in text.replace("-m valuesfirst.cli", ""), f"{module.name} imports cli"
        if module.name != "ui.py":
            assert "Console(" not in text, f"{module.name} builds its own Console; use commands.ui"


def test_train_dry_run_checks_inputs_without_torch(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "msm.jsonl").write_text(json.dumps({"text": "a document"}) + "\n", encoding="utf-8")
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    (tmp_path / "aft.jsonl").write_text(json.dumps(chat) + "\n", encoding="utf-8")
    config = "model:\n  path: model\ndata:\n  msm: [msm.jsonl]\n  aft: [aft.jsonl]\n"
    (tmp_path / "t.yaml").write_text(config, encoding="utf-8")
    code, stdout, stderr, heavy = run_cli(["train", "t.yaml", "--dry-run", "--set", "seed=3"], tmp_path)
    assert code == 0, stderr
    assert "seed 3" in stdout and "nothing trained" in stdout and heavy == []
    assert not (tmp_path / "runs").exists()  # a dry run writes nothing
    # A chat without an assistant turn is named by file and line, still without torch.
    (tmp_path / "aft.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    code, _, stderr, heavy = run_cli(["train", "t.yaml", "--dry-run"], tmp_path)
    assert code == 2 and "aft.jsonl:1: field `messages`" in stderr and "no assistant turn" in stderr
    assert heavy == []
