"""Two-process DDP on CPU (gloo) through torchrun: both ranks end with identical weights, different data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from valuesfirst.train.tiny import make_tiny_model_folder, toy_sentences, write_toy_data


@pytest.mark.slow  # two processes each import torch, transformers, peft, accelerate: ~25 s on 2 cores
def test_two_rank_ddp_ranks_agree(tmp_path: Path) -> None:
    paths = write_toy_data(tmp_path / "data", 60, 30)
    model = make_tiny_model_folder(tmp_path / "model", toy_sentences(100))
    config = {
        "model": {"path": str(model)},
        "data": {"msm": [str(paths["msm"])], "aft": [str(paths["aft"])]},
        "recipe": {
            "lr": 3e-3, "max_steps": 3, "epochs": 10, "seq_len": 96, "batch_size": 2, "grad_accum": 2,
            "threads": 1,
        },
        "output_dir": str(tmp_path / "out"),
        "report_to": "none",
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
    ]
    done = subprocess.run(
        [*torchrun, "-m", "valuesfirst.cli", "train", str(tmp_path / "c.yaml")],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / "out" / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["final_digest"] == ranks[1]["final_digest"]  # every weight, bit for bit
    for stage in ("0", "1"):
        seen0, seen1 = set(ranks[0]["rows_seen"][stage]), set(ranks[1]["rows_seen"][stage])
        assert seen0 and seen1 and seen0 != seen1
    summary = json.loads((tmp_path / "out" / "1-aft" / "summary.json").read_text())
    assert summary["steps"] == 3
