"""The one training recipe: every MSM, AFT or mixed stage, of `valuesfirst train` and of every experiment.

The defaults are the MSM paper's recipe (App. B.4): LoRA r=64, alpha=128, dropout 0 on all attention and MLP
projections; AdamW, lr 1e-4, cosine, 5% warm-up, weight decay 0.01; 1 epoch per stage; AFT continues the
MSM adapter. Batch size is not stated in the paper; 32 rows per optimizer step follows the TDA fork.

How a stage's rows are chosen (the one interaction to know):

* without ``mix``: every example of the stage's data, packed, ``epochs`` times (capped by ``max_steps``);
* with ``mix`` (shares by document count of named sources, e.g. ``{msm: 0.5, replay: 0.5}``): examples are
  drawn with replacement by those shares until ``steps`` optimizer steps are filled. ``steps`` is then
  required. This is how the embedded world's stages replay pre-training text.

``preset`` fills in the fields a config leaves out: ``paper`` (the defaults above) or ``tiny_world`` (the
embedded demo's full fine-tuning of a 0.85M-parameter model from scratch).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from valuesfirst.train.optim_config import OptimConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(_Strict):
    """PEFT LoRA. Defaults: the paper's (App. B.4) and its released adapter_config.json."""

    r: int = Field(64, ge=1, description="rank (default 64)")
    alpha: int = Field(128, ge=1, description="scaling numerator (default 128)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout on the adapter input (default 0)")
    target_modules: list[str] | None = Field(
        None,
        description="module names to adapt; default: every attention and MLP projection the model has "
        "(q/k/v/o, gate/up/down). A name the model lacks is an error listing the names it has.",
    )
    continue_adapter: bool = Field(
        True,
        description="a later stage keeps training the earlier stage's adapter (default true, as in the "
        "paper); false merges it into the weights and starts a fresh adapter",
    )
    init_adapter: Path | None = Field(
        None, description="start the first stage from this saved adapter folder (e.g. an MSM run's)"
    )


# The embedded demo's stages: full fine-tuning of the tiny world model, the loop's historical optimizer
# settings (betas 0.98, wd 0.1, decay to 10%), 16 packed rows of 128 tokens a step, one torch thread (two
# stages run side by side on 2 cores), fp32 (bf16 is slower for tiny models on CPUs without AMX).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "tiny_world": {
        "finetune": "full",
        "lr": 1e-3,
        "warmup_steps": 10,
        "min_lr_ratio": 0.1,
        "weight_decay": 0.1,
        "betas": (0.9, 0.98),
        "seq_len": 128,
        "batch_size": 16,
        "grad_accum": 1,
        "packing": True,
        "precision": "fp32",
        "threads": 1,
    },
}


class Recipe(_Strict):
    """How one stage trains. Fields left out come from ``preset`` (default ``paper``)."""

    preset: Literal["paper", "tiny_world"] = Field(
        "paper", description="defaults for the fields a config leaves out (paper: App. B.4; tiny_world)"
    )
    finetune: Literal["lora", "full"] = Field("lora", description="LoRA or all weights (default lora)")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    lr: float = Field(1e-4, gt=0, description="peak learning rate (default 1e-4)")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="default cosine")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="warm-up share of a stage's steps (default 5%)")
    warmup_steps: int | None = Field(
        None, ge=0, description="warm-up steps; overrides warmup_ratio when set (default unset)"
    )
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final lr / peak lr (default 0)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay on matrices (default 0.01)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas (default (0.9, 0.999))")
    grad_clip: float = Field(1.0, gt=0, description="max gradient norm (default 1.0)")
    epochs: float = Field(1.0, gt=0, description="passes over the stage's data without `mix` (default 1)")
    max_steps: int | None = Field(
        None, ge=1, description="cap on optimizer steps per stage (default: derived from epochs)"
    )
    steps: int | None = Field(
        None, ge=1, description="exact optimizer steps; required with `mix`, otherwise derived from epochs"
    )
    mix: dict[str, float] | None = Field(
        None,
        description="shares by document count of named sources (a row `kind` of the stage's data, or "
        "`replay`), drawn with replacement until `steps` are filled; normalised. Default: none (epochs).",
    )
    packing: bool = Field(
        True,
        description="pack examples into rows of seq_len; packed examples never attend to each other "
        "(per-example position ids). false: one example per row, padded to the longest in the batch.",
    )
    seq_len: int = Field(4096, ge=8, description="tokens per row; longer examples are split (default 4096)")
    batch_size: int = Field(4, ge=1, description="rows per device per micro-batch (default 4)")
    grad_accum: int = Field(
        8, ge=1, description="micro-batches per optimizer step; rows per step = batch_size*grad_accum*GPUs"
    )
    precision: Literal["auto", "fast", "bf16", "fp32"] = Field(
        "auto",
        description="auto: bf16 mixed precision where the GPU supports it, else fp32. fast: also bf16 on "
        "CPUs that compute it natively (AMX or avx512_bf16: 2.1-2.5x fp32 for SmolLM2 LoRA), fp32 on other "
        "CPUs (where bf16 autocast is up to 13x slower). With LoRA and bf16 the frozen weights load in bf16.",
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            preset = data.get("preset", "paper")
            if preset in PRESETS:
                return {**PRESETS[preset], **data}
        return data

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if self.mix is not None:
            if self.steps is None:
                raise ValueError("`mix` draws examples until `steps` are filled: set `steps`")
            shares = list(self.mix.values())
            if not shares or all(w <= 0 for w in shares) or any(w < 0 for w in shares):
                raise ValueError("`mix` needs at least one positive share and no negative one")
        if self.finetune == "full" and self.lora.init_adapter is not None:
            raise ValueError("lora.init_adapter needs finetune: lora")
        return self

    def stage_steps(self, n_rows: int, world: int) -> int:
        """Optimizer steps: ``steps`` if set, else ``epochs`` over ``n_rows`` at batch_size*grad_accum*world
        rows per step (the last step wraps into the next permutation rather than running short); capped by
        ``max_steps``."""
        if self.steps is not None:
            steps = self.steps
        else:
            per_step = self.batch_size * self.grad_accum * world
            steps = max(1, math.ceil(self.epochs * n_rows / per_step))
        return min(steps, self.max_steps) if self.max_steps else steps

    def optim(self, steps: int) -> OptimConfig:
        """The loop's optimizer settings for a stage of ``steps`` steps."""
        warmup = self.warmup_steps if self.warmup_steps is not None else math.ceil(self.warmup_ratio * steps)
        return OptimConfig(
            lr=self.lr,
            warmup_steps=warmup,
            schedule=self.schedule,
            min_lr_ratio=self.min_lr_ratio,
            weight_decay=self.weight_decay,
            betas=self.betas,
            grad_clip=self.grad_clip,
        )

    def summary(self) -> str:
        """One line for the start-of-run summary."""
        what = (
            f"LoRA r={self.lora.r}/alpha={self.lora.alpha}" if self.finetune == "lora" else "full fine-tuning"
        )
        length = f"{self.steps} steps" if self.steps else f"{self.epochs:g} epoch(s)"
        if self.max_steps and not self.steps:
            length += f" (max {self.max_steps})"
        rows = f"{self.batch_size}x{self.grad_accum} rows of {self.seq_len}"
        mix = f", mix {self.mix}" if self.mix else ""
        return f"{what}, lr {self.lr:g} {self.schedule}, {length}, {rows}, {self.precision}{mix}"
