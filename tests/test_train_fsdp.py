"""`valuesfirst train` under FSDP: 2 CPU processes (gloo), accelerate's FSDP2 path, full FT and LoRA.

accelerate 1.15 sets up FSDP only for GPU-type devices: on a CPU-only machine an FSDP config quietly runs
as MULTI_CPU data parallelism (run.py refuses that; see test_fsdp_config_on_cpu_is_refused). torch's
FSDP2 itself runs on CPU with gloo, so this file, launched by torchrun as a script, switches accelerate's
state to FSDP with an FSDP2 plugin right after the Accelerator is built; everything after that (prepare,
sharded DTensor weights, clipping, gathering, checkpoints, resume, saving) is accelerate's and our code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from distributed_helpers import launch, summary, tiny_root, train_until, two_stage_config, write_yaml

PORTS = iter(range(29641, 29700))


def _force_fsdp2_on_cpu() -> None:
    import accelerate
    from accelerate import FullyShardedDataParallelPlugin
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    original = accelerate.Accelerator.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        plugin = FullyShardedDataParallelPlugin(
            fsdp_version=2,
            auto_wrap_policy="transformer_based_wrap",
            state_dict_type="FULL_STATE_DICT",
            reshard_after_forward=True,
            cpu_ram_efficient_loading=False,
        )
        original(self, *args, **kwargs)
        # Both shared states: prepare() reads PartialState's, and would otherwise fall back to MULTI_CPU.
        self.state.distributed_type = DistributedType.FSDP
        PartialState._shared_state["distributed_type"] = DistributedType.FSDP
        self.state.fsdp_plugin = plugin
        assert self.is_fsdp2

    accelerate.Accelerator.__init__ = init


def _main(config_path: str, mode: str, stop_at: str) -> None:
    if mode == "fsdp":
        _force_fsdp2_on_cpu()
    train_until(config_path, stop_at)


def _launch(tmp: Path, name: str, config: dict[str, Any], mode: str, stop_at: str = "") -> int:
    path = write_yaml(tmp / f"{name}.yaml", config)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    return launch([*cmd, "--master_port", str(next(PORTS)), __file__, str(path), mode, stop_at], stop_at)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_root(tmp_path_factory, "fsdp")


@pytest.mark.slow  # 4 torchrun launches of 2 processes each: ~45 s per case on 2 loaded cores
@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_fsdp_resumes_saves_and_matches_ddp(root: Path, finetune: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from valuesfirst.train.lora import state_digest

    fsdp, ddp = root / f"fsdp-{finetune}", root / f"ddp-{finetune}"
    _launch(root, f"fsdp-{finetune}", two_stage_config(root, fsdp.name, finetune), "fsdp")
    _launch(root, f"ddp-{finetune}", two_stage_config(root, ddp.name, finetune), "ddp")
    killed = two_stage_config(root, f"killed-{finetune}", finetune, checkpoint_every=2)
    assert _launch(root, f"killed-{finetune}", killed, "fsdp", stop_at="[1:aft] step 5/") != 0
    assert not (root / killed["output_dir"] / "1-aft" / "summary.json").exists()
    _launch(root, f"killed-{finetune}", killed, "fsdp")
    resumed = Path(killed["output_dir"])
    # The FSDP runs took the sharded path (gathered to rank 0 only); the DDP ranks hold equal full copies.
    fsdp_ranks = [json.loads((fsdp / "ranks" / f"rank{r}.json").read_text())["final_digest"] for r in (0, 1)]
    ddp_ranks = [json.loads((ddp / "ranks" / f"rank{r}.json").read_text())["final_digest"] for r in (0, 1)]
    assert fsdp_ranks[0] is not None and fsdp_ranks[1] is None
    assert ddp_ranks[0] == ddp_ranks[1] is not None
    for stage in ("0-msm", "1-aft"):
        a, b, c = summary(fsdp, stage), summary(resumed, stage), summary(ddp, stage)
        # (b) exact resume: a checkpoint of gathered shards, loaded back into shards.
        assert abs(a["loss_final"] - b["loss_final"]) < 1e-4, (stage, a["loss_final"], b["loss_final"])
        # (c) FSDP vs DDP on the same rows differ only in the order of float32 sums (reduce-scatter vs
        # all-reduce). Measured 2026-11-23: final losses equal to the last digit, saved weights within
        # 7.2e-6 after 12 steps (full FT; LoRA identical). 1e-3 leaves room for other CPUs and
        # thread counts while a real fault (a lost shard, a wrong gradient scale) moves the loss by >1e-2.
        assert abs(a["loss_final"] - c["loss_final"]) < 1e-3, (stage, a["loss_final"], c["loss_final"])
    assert summary(fsdp, "0-msm")["start_digest"] == summary(ddp, "0-msm")["start_digest"]
    # (a) the saved model loads in one process, and is what the gathered state dict said.
    model_dir = fsdp / "1-aft" / "model"
    merged = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    reference = AutoModelForCausalLM.from_pretrained(ddp / "1-aft" / "model").eval()
    ids = torch.tensor([[5, 17, 42, 9, 88, 3]])
    with torch.no_grad():
        logits = merged(ids).logits
        assert float((logits - reference(ids).logits).abs().max()) < 1e-3
        if finetune == "full":
            params = dict(merged.named_parameters())
            assert state_digest(params) == summary(fsdp, "1-aft")["end_digest"]  # bit for bit
        else:
            base = AutoModelForCausalLM.from_pretrained(root / "model").eval()
            with_adapter = PeftModel.from_pretrained(base, str(fsdp / "1-aft" / "adapter")).eval()
            assert float((logits - with_adapter(ids).logits).abs().max()) < 1e-4


def _tiny_cfg(root: Path) -> Any:
    from valuesfirst.train.train_config import TrainConfig

    return TrainConfig.model_validate(two_stage_config(root, "refused", "lora"))


def test_deepspeed_config_without_deepspeed_fails_before_training(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from valuesfirst.errors import InputError
    from valuesfirst.train.run import run_training

    monkeypatch.setitem(sys.modules, "deepspeed", None)  # find_spec now reports it missing
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch` sets for DEEPSPEED
    with pytest.raises(InputError, match="`deepspeed` is not installed"):
        run_training(_tiny_cfg(root), log=lambda _: None)
    assert not (root / "refused").exists()  # nothing loaded, nothing written


def test_fsdp_config_on_cpu_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.state import AcceleratorState

    from valuesfirst.errors import InputError
    from valuesfirst.train.run import run_training

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch` sets for FSDP
    try:
        with pytest.raises(InputError, match="FSDP was selected but accelerate set up"):
            run_training(_tiny_cfg(root), log=lambda _: None)
    finally:
        AcceleratorState._reset_state(True)  # the FSDP plugin must not leak into later tests
    assert not (root / "refused" / "0-msm").exists()


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
