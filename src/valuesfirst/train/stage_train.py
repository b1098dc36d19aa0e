"""One training stage on a model folder: midtraining (MSM) or AFT with replay, saved as a new folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from valuesfirst.models.load import load_model, save_model
from valuesfirst.train.collate import assert_packing_isolated, packing_efficiency
from valuesfirst.train.encode import Example
from valuesfirst.train.loop import OptimConfig, batches, lr_factor, make_optimizer, train_steps
from valuesfirst.train.mixture import mixed_rows


class StageTrainConfig(BaseModel):
    """A continued-training stage. The defaults are the embedded demo's MSM stage."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(150, ge=1, description="optimizer steps (default 150)")
    batch_size: int = Field(16, ge=1, description="packed rows per step (default 16)")
    seq_len: int = Field(128, ge=8, description="tokens per packed row (default 128)")
    optim: OptimConfig = Field(default_factory=OptimConfig)
    mix: dict[str, float] = Field(
        default_factory=lambda: {"msm": 0.5, "replay": 0.5},
        description="share by document count of each source: a `kind` of the stage's data, or `replay` "
        "(pre-training corpus). Normalised; only ratios matter.",
    )
    bf16: bool = Field(
        False,
        description="bf16 autocast (default false: on CPUs without AMX it is 1.6x slower than fp32 for "
        "tiny models; see benchmarks/cpu_tiny_model_step.md)",
    )
    threads: int = Field(2, ge=1, description="torch CPU threads (default 2)")


def run_train_stage(
    init_model: Path,
    sources: Mapping[str, Sequence[Example]],
    cfg: StageTrainConfig,
    seed: int,
    out: Path,
    on_step: Callable[[int, float], None] | None = None,
) -> dict:
    """Continue training ``init_model`` on the configured mixture; write the new model folder to ``out``."""
    torch.set_num_threads(cfg.threads)
    model, tokenizer = load_model(init_model)
    assert_packing_isolated(model)  # packed documents must never attend to each other
    rows = mixed_rows(sources, cfg.mix, cfg.steps * cfg.batch_size, cfg.seq_len, seed)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = make_optimizer(model, cfg.optim)
    pad_id = int(tokenizer.pad_token_id)
    hist = train_steps(
        model,
        batches(rows, cfg.batch_size, gen),
        optimizer,
        lambda s: cfg.optim.lr * lr_factor(s, cfg.steps, cfg.optim),
        cfg.steps,
        pad_id,
        bf16=cfg.bf16,
        grad_clip=cfg.optim.grad_clip,
        on_step=on_step,
    )
    save_model(model, tokenizer, out)
    return {**hist.summary(), "packing_efficiency": round(packing_efficiency(rows, cfg.seq_len), 4)}
