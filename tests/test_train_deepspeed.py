"""`valuesfirst train` under DeepSpeed ZeRO-2 and ZeRO-3, launched by the real `accelerate launch`.

Two CPU processes: DeepSpeed's CPU accelerator runs ZeRO over gloo, and run.py builds the Accelerator
so that accelerate really starts DeepSpeed there (sharded.device_kwargs). Unlike the FSDP test, nothing
is patched: the shipped accelerate configs are launched as they are, with only the process count, the
port and the precision changed for a 2-core CPU. The reference is 2-process DDP launched through the
shipped cpu_ddp.yaml, on the same rows in the same order.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from distributed_helpers import launch, summary, tiny_root, train_until, two_stage_config, write_yaml

pytest.importorskip("deepspeed")  # scripts/setup.sh installs it; without it see test_train_fsdp.py

PORTS = iter(range(29711, 29790))


def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("valuesfirst").joinpath(f"configs/accelerate/{name}.yaml").read_text()
    return dict(yaml.safe_load(text))


def _accelerate_config(tmp: Path, name: str) -> Path:
    config = _shipped(name)
    config.update(num_processes=2, mixed_precision="no", main_process_port=next(PORTS))
    return write_yaml(tmp / f"accelerate-{name}-{config['main_process_port']}.yaml", config)


def _launch(tmp: Path, backend: str, config: dict[str, Any], stop_at: str = "") -> int:
    path = write_yaml(tmp / f"{Path(config['output_dir']).name}.yaml", config)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    return launch([*launcher, str(_accelerate_config(tmp, backend)), __file__, str(path), stop_at], stop_at)


def _ranks(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "ranks").glob("rank*.json"))]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_root(tmp_path_factory, "deepspeed")


_DDP: dict[str, Path] = {}


def _ddp_reference(root: Path, finetune: str) -> Path:
    """2-process DDP through the shipped cpu_ddp.yaml (once per finetune mode)."""
    if finetune not in _DDP:
        out = root / f"ddp-{finetune}"
        _launch(root, "cpu_ddp", two_stage_config(root, out.name, finetune))
        ranks = _ranks(out)
        # Two processes really trained (accelerate launches a MULTI_CPU config as one) and agree.
        assert [r["rank"] for r in ranks] == [0, 1]
        assert ranks[0]["final_digest"] == ranks[1]["final_digest"] is not None
        _DDP[finetune] = out
    return _DDP[finetune]


def _logits(model_dir: Path, ids: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    with torch.no_grad():
        return AutoModelForCausalLM.from_pretrained(model_dir).eval()(ids).logits


@pytest.mark.slow  # 2 `accelerate launch`es of 2 processes (DDP reference shared): ~35 s per case
@pytest.mark.parametrize(("zero", "finetune"), [(2, "full"), (3, "full"), (3, "lora")])
def test_deepspeed_trains_saves_and_matches_ddp(root: Path, zero: int, finetune: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from valuesfirst.train.lora import state_digest

    ddp = _ddp_reference(root, finetune)
    ds = root / f"zero{zero}-{finetune}"
    _launch(root, f"deepspeed_zero{zero}", two_stage_config(root, ds.name, finetune))
    ranks = _ranks(ds)
    # Sharded path: both ranks trained, the full weights were gathered to rank 0 only.
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["final_digest"] is not None and ranks[1]["final_digest"] is None
    assert ranks[0]["rows_seen"] == _ranks(ddp)[0]["rows_seen"]  # the same rows in the same order
    for stage in ("0-msm", "1-aft"):
        a, b = summary(ds, stage), summary(ddp, stage)
        # Measured 2026-11-23: ZeRO-2/3 and DDP final losses equal to 1e-9 over 12 steps. 1e-3 leaves room
        # for other CPUs while a lost shard or a wrong gradient scale (DeepSpeed divides by its own
        # gradient_accumulation_steps) moves the loss by >1e-2.
        assert abs(a["loss_final"] - b["loss_final"]) < 1e-3, (stage, a["loss_final"], b["loss_final"])
        assert a["loss_final"] < a["loss_first"]
    assert summary(ds, "0-msm")["start_digest"] == summary(ddp, "0-msm")["start_digest"]
    ids = torch.tensor([[5, 17, 42, 9, 88, 3]])
    logits = _logits(ds / "1-aft" / "model", ids)
    assert float((logits - _logits(ddp / "1-aft" / "model", ids)).abs().max()) < 1e-3
    if finetune == "full":
        merged = AutoModelForCausalLM.from_pretrained(ds / "1-aft" / "model")
        params = dict(merged.named_parameters())
        assert state_digest(params) == summary(ds, "1-aft")["end_digest"]  # rank 0 gathered, bit for bit
    else:
        base = AutoModelForCausalLM.from_pretrained(root / "model").eval()
        with_adapter = PeftModel.from_pretrained(base, str(ds / "1-aft" / "adapter")).eval()
        with torch.no_grad():
            assert float((logits - with_adapter(ids).logits).abs().max()) < 1e-4


@pytest.mark.slow  # 3 launches: uninterrupted, killed after a checkpoint, resumed
@pytest.mark.parametrize(("zero", "finetune"), [(3, "lora")])
def test_deepspeed_killed_run_resumes_exactly(root: Path, zero: int, finetune: str) -> None:
    name = f"deepspeed_zero{zero}"
    whole = root / f"whole-zero{zero}-{finetune}"
    if not (whole / "1-aft" / "summary.json").exists():
        _launch(root, name, two_stage_config(root, whole.name, finetune, checkpoint_every=2))
    killed = two_stage_config(root, f"killed-zero{zero}-{finetune}", finetune, checkpoint_every=2)
    assert _launch(root, name, killed, stop_at="[1:aft] step 5/") != 0
    out = Path(killed["output_dir"])
    assert not (out / "1-aft" / "summary.json").exists()
    # The AFT checkpoint of step 4 holds DeepSpeed's own sharded optimizer state (accelerate save_state).
    assert (out / "checkpoints" / "stage1-step00000004" / "accelerate" / "latest").is_file()
    _launch(root, name, killed)
    for stage in ("0-msm", "1-aft"):
        a, b = summary(whole, stage), summary(out, stage)
        assert abs(a["loss_final"] - b["loss_final"]) < 1e-4, (stage, a["loss_final"], b["loss_final"])
    assert summary(whole, "1-aft")["end_digest"] == summary(out, "1-aft")["end_digest"]


def test_zero3_init_flag_is_refused_before_loading(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """zero3_init_flag: true would partition weights at load; the trainer says so instead of hanging."""
    from accelerate.state import AcceleratorState

    from valuesfirst.errors import InputError
    from valuesfirst.train.run import run_training
    from valuesfirst.train.train_config import TrainConfig

    cfg = TrainConfig.model_validate(two_stage_config(root, "refused-zero3", "lora"))
    env = {
        "ACCELERATE_USE_DEEPSPEED": "true",
        "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
        "ACCELERATE_DEEPSPEED_ZERO3_INIT": "true",
        "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL": "true",
        "LOCAL_RANK": "0",
        "RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(next(PORTS)),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    try:
        with pytest.raises(InputError, match="zero3_init_flag: true is not supported"):
            run_training(cfg, log=lambda _: None)
    finally:
        AcceleratorState._reset_state(True)
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    assert not (root / "refused-zero3" / "0-msm").exists()


if __name__ == "__main__":
    train_until(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
