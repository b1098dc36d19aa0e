"""The training loop shared by pre-training, midtraining (MSM) and AFT: the embedded world and real models.

A plain loop rather than TRL's SFTTrainer: we need exact control of packing (per-document position ids),
of which tokens carry loss (every target token of a step weighs the same, across micro-batches and ranks),
and of mid-run probe gating during pre-training. On CPU, TRL's default packing builds one 4,096-token row
with quadratic attention and ran 4.5x slower than no packing in our measurement; benchmarks/
train_cpu_vs_trl.md compares this loop with a plain SFTTrainer. `valuesfirst train` (run.py) drives it
through accelerate for DDP, FSDP and DeepSpeed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedModel

from valuesfirst.train.collate import PackedRow, collate, loss_from_logits, model_inputs

# Re-exported from its old home; the config lives apart so that loading a config never imports torch.
from valuesfirst.train.optim_config import OptimConfig as OptimConfig


def lr_factor(step: int, total: int, cfg: OptimConfig, decay_start: int | None = None) -> float:
    """Multiplier of cfg.lr at ``step`` (0-based); decay runs from ``decay_start`` (default: warm-up end)."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    start = cfg.warmup_steps if decay_start is None else decay_start
    if cfg.schedule == "constant" or step < start:
        return 1.0
    span = max(1, total - start)
    frac = min(1.0, (step - start) / span)
    decay = 1.0 - frac if cfg.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * frac))
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on norms and biases (1-d tensors), the usual practice."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=cfg.betas,
    )


@dataclass
class TrainHistory:
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    tokens: int = 0
    target_tokens: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        k = max(1, len(self.loss) // 10)
        return {
            "steps": len(self.loss),
            "loss_first": sum(self.loss[:k]) / k if self.loss else None,
            "loss_last": sum(self.loss[-k:]) / k if self.loss else None,
            "tokens": self.tokens,
            "target_tokens": self.target_tokens,
            "seconds": round(self.seconds, 2),
            "tokens_per_s": round(self.tokens / self.seconds, 1) if self.seconds else None,
        }


def batches(
    rows: Sequence[PackedRow], batch_size: int, generator: torch.Generator
) -> Iterator[list[PackedRow]]:
    """Endless shuffled batches over ``rows`` (a new permutation each epoch)."""
    if not rows:
        raise ValueError("no training rows")
    while True:
        perm = torch.randperm(len(rows), generator=generator).tolist()
        for i in range(0, len(perm) - batch_size + 1, batch_size):
            yield [rows[k] for k in perm[i : i + batch_size]]
        if len(perm) < batch_size:
            yield [rows[k] for k in perm]


def train_steps(
    model: PreTrainedModel,
    batch_iter: Iterator[list[PackedRow]],
    optimizer: torch.optim.Optimizer,
    lr_at: Callable[[int], float],
    n_steps: int,
    pad_id: int,
    *,
    start_step: int = 0,
    bf16: bool = True,
    grad_clip: float = 1.0,
    history: TrainHistory | None = None,
    on_step: Callable[[int, float], None] | None = None,
    accelerator: Any = None,
    grad_accum: int = 1,
) -> TrainHistory:
    """Run ``n_steps`` optimizer steps; the loss is the mean over every target token of the step.

    Each step takes ``grad_accum`` micro-batches from ``batch_iter``. With an ``accelerate.Accelerator``
    (real models: DDP, FSDP, DeepSpeed) the model and optimizer must come from ``accelerator.prepare``;
    the target count is summed over all ranks first, so every token of the global step weighs the same
    however the tokens fall across micro-batches and ranks, and every rank reports the same loss. Mixed
    precision then comes from the accelerator and ``bf16`` is ignored. Without one (the embedded demo),
    ``bf16`` sets CPU autocast.
    """
    hist = history or TrainHistory()
    model.train()
    world = accelerator.num_processes if accelerator is not None else 1
    device = accelerator.device if accelerator is not None else None
    t0 = time.perf_counter()
    for step in range(start_step, start_step + n_steps):
        micro = [collate(next(batch_iter), pad_id) for _ in range(grad_accum)]
        lr = lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        n_local = sum(b["n_target_tokens"] for b in micro)
        n_total = _sum_over_ranks(accelerator, float(n_local)) if world > 1 else n_local
        # Per-rank losses are averaged by DDP's gradient all-reduce, hence the factor world.
        denom = max(n_total, 1) / world
        optimizer.zero_grad(set_to_none=True)
        loss_sum_local = torch.zeros((), dtype=torch.float32)
        for batch in micro:
            if accelerator is None:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    logits = model(**model_inputs(batch)).logits
                loss_sum, _ = loss_from_logits(logits.float(), batch["labels"])
                (loss_sum / denom).backward()
            else:
                with accelerator.accumulate(model):
                    logits = model(**model_inputs(batch, device)).logits
                    loss_sum, _ = loss_from_logits(logits.float(), batch["labels"])
                    # accelerator.backward divides by its gradient_accumulation_steps (= grad_accum).
                    accelerator.backward(loss_sum * grad_accum / denom)
            loss_sum_local = loss_sum_local + loss_sum.detach().cpu()
            del logits
        if accelerator is None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        else:
            accelerator.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if world > 1:
            value = _sum_over_ranks(accelerator, float(loss_sum_local)) / max(n_total, 1)
        else:  # the same float32 division as the demo has always used, so its results do not move
            value = float(loss_sum_local / max(int(n_total), 1))
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} at step {step}")
        hist.steps.append(step)
        hist.loss.append(value)
        hist.lr.append(lr)
        hist.tokens += sum(int(b["n_real_tokens"]) for b in micro)
        hist.target_tokens += int(n_local)
        if on_step is not None:
            on_step(step, value)
    hist.seconds += time.perf_counter() - t0
    return hist


def _sum_over_ranks(accelerator: Any, value: float) -> float:
    # float64 so that token counts and loss sums add exactly the same on every rank.
    t = torch.tensor([value], dtype=torch.float64, device=accelerator.device)
    return float(accelerator.reduce(t, reduction="sum").item())
