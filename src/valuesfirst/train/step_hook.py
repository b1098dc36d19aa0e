"""What happens after each optimizer step of `valuesfirst train`: logging and checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from valuesfirst.train.checkpoint import save_checkpoint
from valuesfirst.train.loop import TrainHistory, _sum_over_ranks
from valuesfirst.train.lora import trainable_state
from valuesfirst.train.metrics import MetricsSink


@dataclass
class StepHook:
    """Logs loss, lr, tokens/s (non-pad tokens, all ranks) and MFU every ``log_every`` steps and at the
    end; saves a checkpoint every ``checkpoint_every`` steps (main process; not after the last step, whose
    result is the stage output itself)."""

    stage: int
    kind: str
    steps: int
    hist: TrainHistory
    model: torch.nn.Module  # unwrapped: its parameter names are the checkpoint's
    optimizer: torch.optim.Optimizer
    accelerator: Any
    sink: MetricsSink
    log: Callable[[str], None]
    output_dir: Path
    config: dict[str, Any]
    log_every: int
    checkpoint_every: int
    flops_per_token: float
    peak_flops: float | None
    _t: float = field(default_factory=time.perf_counter)
    _tokens: int = 0

    def __post_init__(self) -> None:
        self._tokens = self.hist.tokens  # a resumed stage's history already counts earlier tokens

    def __call__(self, step: int, loss: float) -> None:
        done = step + 1
        if done % self.log_every == 0 or done == self.steps:
            self._log(done, loss)
        due = bool(self.checkpoint_every) and done % self.checkpoint_every == 0 and done < self.steps
        if due and self.accelerator.is_main_process:
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
        save_checkpoint(self.output_dir, trainable_state(self.model), self.optimizer, state, self.config)
