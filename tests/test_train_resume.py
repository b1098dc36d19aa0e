"""A run killed with SIGKILL resumes from its last checkpoint and ends at the uninterrupted run's loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from valuesfirst.train.checkpoint import latest_checkpoint, read_state
from valuesfirst.train.run import run_training
from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data
from valuesfirst.train.train_config import TrainConfig

STEPS = 40


def _config(root: Path, out: str, steps: int = STEPS) -> dict:
    return {
        "model": {"path": str(root / "model")},
        "data": {"msm": [str(root / "data" / "msm.jsonl")], "aft": [str(root / "data" / "aft.jsonl")]},
        "recipe": {
            "lr": 3e-3,
            "max_steps": steps,
            "epochs": 50,
            "seq_len": 96,
            "batch_size": 4,
            "grad_accum": 2,
        },
        "output_dir": str(root / out),
        "checkpoint_every": 4,
        "log_every": 100,
        "report_to": "none",
    }


def _compare(root: Path, steps: int) -> None:
    for stage in ("0-msm", "1-aft"):
        a = json.loads((root / "killed" / stage / "summary.json").read_text())
        b = json.loads((root / "straight" / stage / "summary.json").read_text())
        assert a["steps"] == b["steps"] == steps
        assert abs(a["loss_final"] - b["loss_final"]) < 1e-4, (stage, a["loss_final"], b["loss_final"])


class Stop(Exception):
    pass


def test_interrupted_run_resumes_in_process(tmp_path: Path) -> None:
    write_toy_data(tmp_path / "data", 60, 40)
    make_tiny_model_folder(tmp_path / "model", toy_sentences(100))

    def stop_in_aft(line: str) -> None:
        if line.startswith("[1:aft] step 7/"):  # checkpoint at step 4 of the AFT stage exists by now
            raise Stop

    config = {**_config(tmp_path, "killed", 10), "log_every": 1}
    with pytest.raises(Stop):
        run_training(TrainConfig.model_validate(config), log=stop_in_aft)
    ckpt = latest_checkpoint(tmp_path / "killed")
    assert ckpt is not None and read_state(ckpt)["stage"] == 1 and read_state(ckpt)["step"] == 4
    logs: list[str] = []
    run_training(TrainConfig.model_validate(config), log=logs.append)
    assert "resumed stage 1 (aft) at step 4" in logs[0]
    run_training(TrainConfig.model_validate({**_config(tmp_path, "straight", 10), "checkpoint_every": 0}))
    _compare(tmp_path, 10)


@pytest.mark.slow  # a subprocess and two full runs: ~30 s on 2 loaded cores
def test_killed_run_resumes_to_the_same_final_loss(tmp_path: Path) -> None:
    write_toy_data(tmp_path / "data", 60, 40)
    make_tiny_model_folder(tmp_path / "model", toy_sentences(100))
    config_file = tmp_path / "killed.yaml"
    config_file.write_text(yaml.safe_dump(_config(tmp_path, "killed")))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "valuesfirst.cli", "train", str(config_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill it once a checkpoint inside the AFT stage exists: resuming must rebuild the stage's starting
    # model from the MSM stage's saved adapter, then load the checkpoint.
    deadline = time.monotonic() + 120
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        ckpt = latest_checkpoint(tmp_path / "killed")
        if ckpt is not None and read_state(ckpt)["stage"] == 1:
            proc.send_signal(signal.SIGKILL)
            killed_at = read_state(ckpt)["step"]
            break
        time.sleep(0.01)
    proc.wait()
    if killed_at is None:
        pytest.fail(f"the run ended (rc {proc.returncode}) before a stage-1 checkpoint could be killed")
    assert not (tmp_path / "killed" / "1-aft" / "summary.json").exists()

    resumed = TrainConfig.model_validate(_config(tmp_path, "killed"))
    logs: list[str] = []
    run_training(resumed, log=logs.append)
    assert any(line.startswith("resumed stage 1 (aft) at step") for line in logs)

    straight = TrainConfig.model_validate({**_config(tmp_path, "straight"), "checkpoint_every": 0})
    run_training(straight, log=lambda _: None)
    _compare(tmp_path, STEPS)
