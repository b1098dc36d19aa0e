"""Throughput and model FLOPs utilisation (MFU), and where metrics go (metrics.jsonl, TensorBoard, W&B).

MFU = achieved model FLOP/s / the accelerator's peak. The peak is only known for listed GPUs; on a CPU or
an unknown GPU MFU is not reported (None), never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

# Dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets; no sparsity). Matched as substrings of
# torch.cuda.get_device_name(), most specific first.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989.0),
    ("H20", 148.0),
    ("B200", 2250.0),
    ("GH200", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
)


def peak_flops(device: torch.device, bf16: bool) -> float | None:
    """Peak FLOP/s of ``device`` for bf16 training, or None when unknown (CPU, fp32, unlisted GPU)."""
    if device.type != "cuda" or not bf16:
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in name:
            return tflops * 1e12
    return None


def train_flops_per_token(model: torch.nn.Module, context_len: float, lora: bool) -> float:
    """Model FLOPs per trained token: weight matmuls forward and backward, plus attention.

    Weights: full fine-tuning 6N (2N forward, 4N backward); LoRA 4N, since no weight gradients of the
    frozen matrices are computed, only activation gradients (the adapters are negligible). N counts the
    non-embedding weights (an embedding lookup is not a matmul; a tied lm_head is counted once as a matmul).
    Attention scores and mixing: 6 * layers * heads * head_dim * context_len with the causal half counted,
    where ``context_len`` is the mean length of the (isolated) documents a token attends within.
    """
    config = getattr(model, "config", None)
    n = sum(
        p.numel()
        for name, p in model.named_parameters()
        if "embed_tokens" not in name and "lora_" not in name and "wte" not in name
    )
    if config is not None and getattr(config, "tie_word_embeddings", False):
        n += model.get_input_embeddings().weight.numel()  # type: ignore[operator]
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    head_dim = int(getattr(config, "head_dim", 0) or (getattr(config, "hidden_size", 0) // max(1, heads)))
    return float((4 if lora else 6) * n + 6 * layers * heads * head_dim * context_len)


class MetricsSink:
    """Writes metric rows to metrics.jsonl and, when installed and asked for, TensorBoard or W&B."""

    def __init__(self, out_dir: Path, report_to: str, config: dict[str, Any], enabled: bool) -> None:
        self.enabled = enabled
        self.path = out_dir / "metrics.jsonl"
        self._tb: Any = None
        self._wandb: Any = None
        self.backend = "jsonl"
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        if report_to in ("auto", "tensorboard"):
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(out_dir / "tensorboard"))
                self.backend = "jsonl+tensorboard"
            except ImportError:
                if report_to == "tensorboard":
                    raise
        elif report_to == "wandb":
            import wandb

            self._wandb = wandb.init(project="valuesfirst", config=config, dir=str(out_dir))
            self.backend = "jsonl+wandb"

    def log(self, row: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        scalars = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k != "step"}
        prefix = str(row.get("stage", "train"))
        if self._tb is not None:
            for k, v in scalars.items():
                self._tb.add_scalar(f"{prefix}/{k}", v, step)
        if self._wandb is not None:
            self._wandb.log({f"{prefix}/{k}": v for k, v in scalars.items()}, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
