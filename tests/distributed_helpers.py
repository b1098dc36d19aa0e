"""Helpers shared by the multi-process training tests (test_train_fsdp.py, test_train_deepspeed.py).

Each test file is also the script its launcher runs in every process; ``train_until`` is that script's
body: the train command, optionally stopped at a log line to stand in for a killed run.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml


class Stop(Exception):
    """Raised from the log callback to end a run at a given line (a kill at a known point)."""


def train_until(config_path: str, stop_at: str) -> None:
    from valuesfirst.train.run import run_training
    from valuesfirst.train.train_config import TrainConfig

    def log(line: str) -> None:
        if stop_at and line.startswith(stop_at):
            raise Stop(line)  # rank 0 only logs; the launcher then ends the other rank

    cfg = TrainConfig.model_validate(yaml.safe_load(Path(config_path).read_text()))
    run_training(cfg, log=log)


def launch(cmd: list[str], stop_at: str = "") -> int:
    """Runs a launcher command offline with one thread a process; a run not meant to stop must succeed."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    if not stop_at:
        assert done.returncode == 0, done.stderr[-4000:]
    return done.returncode


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def tiny_root(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder with a tiny Qwen3-style model and toy MSM/AFT data."""
    from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data

    tmp = tmp_path_factory.mktemp(name)
    write_toy_data(tmp / "data", 60, 40)
    make_tiny_model_folder(tmp / "model", toy_sentences(100))
    return tmp


def two_stage_config(root: Path, out: str, finetune: str, **extra: Any) -> dict[str, Any]:
    """MSM then AFT, 6 optimizer steps each, on ``root``'s model and data."""
    recipe = {
        "finetune": finetune, "lora": {"r": 8, "alpha": 16}, "seq_len": 96, "batch_size": 2, "grad_accum": 2,
        "lr": 3e-3, "max_steps": 6, "epochs": 50, "threads": 1,
    }  # fmt: skip
    return {
        "model": {"path": str(root / "model")},
        "data": {"msm": [str(root / "data" / "msm.jsonl")], "aft": [str(root / "data" / "aft.jsonl")]},
        "recipe": recipe,
        "output_dir": str(root / out),
        "log_every": 1,
        "report_to": "none",
        **extra,
    }


def summary(out: Path, stage: str) -> dict[str, Any]:
    return dict(json.loads((out / stage / "summary.json").read_text()))
