"""What happens after each optimizer step of `valuesfirst train`: logging and checkpoints."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from valuesfirst.train.checkpoint import save_checkpoint, staging_dir
from valuesfirst.train.loop import TrainHistory, _sum_over_ranks
from valuesfirst.train.metrics import MetricsSink
from valuesfirst.train.sharded import optimizer_state, trainable_full


@dataclass
class StepHook:
    """Logs loss, lr, tokens/s (non-pad tokens, all ranks) and MFU every ``log_every`` steps and at the
    end; saves a checkpoint every ``checkpoint_every`` steps (not after the last step, whose result is the
    stage output itself). Every rank takes part in a checkpoint (gathering shards is collective); the main
    process writes it."""

    stage: int
    kind: str
    steps: int
    hist: TrainHistory
    model: torch.nn.Module  # as prepared by accelerate (DDP/FSDP/DeepSpeed wrapper or the model itself)
    optimizer: torch.optim.Optimizer
    trainable_names: set[str]  # the checkpoint's tensors: the unwrapped model's trainable parameters
    accelerator: Any
    sink: MetricsSink
    log: Callable[[str], None]
    output_dir: Path
    config: dict[str, Any]
    log_every: int
    checkpoint_every: int
    flops_per_token: float
    peak_flops: float | None
    on_step: Callable[[int, float], None] | None = None  # e.g. an experiment's progress bar
    _t: float = field(default_factory=time.perf_counter)
    _tokens: int = 0

    def __post_init__(self) -> None:
        self._tokens = self.hist.tokens  # a resumed stage's history already counts earlier tokens

    def __call__(self, step: int, loss: float) -> None:
        done = step + 1
        if self.on_step is not None:
            self.on_step(step, loss)
        if done % self.log_every == 0 or done == self.steps:
            self._log(done, loss)
        due = bool(self.checkpoint_every) and done % self.checkpoint_every == 0 and done < self.steps
        if due:
            self._checkpoint(done)

    def _log(self, done: int, loss: float) -> None:
        world = self.accelerator.num_processes
        now = time.perf_counter()
        local = float(self.hist.tokens - self._tokens)
        tokens = _sum_over_ranks(self.accelerator, local) if world > 1 else local
        tps = tokens / max(now - self._t, 1e-9)
        mfu = self.flops_per_token * tps / (self.peak_flops * world) if self.peak_flops else None
        self._t, self._tokens = now, self.hist.tokens
        row = {"stage": self.kind, "stage_index": self.stage, "step": done, "steps": self.steps,
               "loss": loss, "lr": self.hist.lr[-1], "tokens_per_s": round(tps, 1), "mfu": mfu}  # fmt: skip
        self.sink.log(row, done)
        if self.accelerator.is_main_process:
            shown = f"  mfu {mfu:.1%}" if mfu is not None else ""
            self.log(f"[{self.stage}:{self.kind}] step {done}/{self.steps}  loss {loss:.4f}  "
                     f"lr {self.hist.lr[-1]:.2e}  tok/s {tps:,.0f}{shown}")  # fmt: skip

    def _checkpoint(self, done: int) -> None:
        h = self.hist
        state = {"stage": self.stage, "kind": self.kind, "step": done, "loss": h.loss, "steps": h.steps,
                 "lr": h.lr, "tokens": h.tokens, "target_tokens": h.target_tokens}  # fmt: skip
        acc = self.accelerator
        tmp = staging_dir(self.output_dir, state)
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)  # left by a run killed mid-save
        acc.wait_for_everyone()
        trainable = trainable_full(acc, self.model, self.trainable_names)
        optim = optimizer_state(acc, self.model, self.optimizer, tmp)
        if acc.is_main_process:
            save_checkpoint(self.output_dir, trainable, optim, state, self.config)
        acc.wait_for_everyone()
