"""Pre-training's config and gates, apart from the loop so that validating an experiment file never
imports torch."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from valuesfirst.models.tiny_config import TinyModelConfig
from valuesfirst.train.optim_config import OptimConfig


class Gate(BaseModel):
    """A probe set whose rate must fall in [min, max]."""

    model_config = ConfigDict(extra="forbid")

    set: str
    min: float = 0.0
    max: float = 1.0
    metric: str = Field("rate", pattern="^(rate|soft)$")
    stop: bool = Field(True, description="whether this gate must pass before annealing starts")


class PretrainConfig(BaseModel):
    """Pre-training from scratch. Defaults: the embedded demo (0.85M-parameter Llama)."""

    model_config = ConfigDict(extra="forbid")

    model: TinyModelConfig = Field(default_factory=TinyModelConfig)
    seed: int = Field(0, description="initialisation and data-order seed (default 0)")
    batch_size: int = Field(32, ge=1, description="packed rows per step (default 32)")
    seq_len: int = Field(128, ge=8, description="tokens per row (default 128)")
    optim: OptimConfig = Field(
        default_factory=lambda: OptimConfig(lr=2e-3, warmup_steps=100, min_lr_ratio=0.1)
    )
    min_steps: int = Field(1000, ge=0, description="no anneal before this step (default 1000)")
    max_steps: int = Field(2500, ge=1, description="anneal starts here at the latest (default 2500)")
    probe_every: int = Field(250, ge=1, description="steps between gate probes (default 250)")
    anneal_steps: int = Field(
        300, ge=0, description="cosine decay to min_lr_ratio after gating (default 300)"
    )
    # Facts and the persona mechanism gate the anneal. The two "no preference" gates are recorded but do
    # not block it: at constant lr they wander (0.30-0.60 seen), and waiting longer made them worse.
    gates: list[Gate] = Field(
        default_factory=lambda: [
            Gate(set="facts", min=0.95),
            Gate(set="bio_only", min=0.9),
            Gate(set="no_value", min=0.4, max=0.6, metric="soft", stop=False),
            Gate(set="base_assistant", min=0.3, max=0.7, metric="soft", stop=False),
        ]
    )
    bf16: bool = Field(False, description="bf16 autocast (default false; see StageTrainConfig.bf16)")
    threads: int = Field(
        2, ge=1, description="torch CPU threads per process (default 2); with ranks > 1, per rank"
    )
    ranks: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "data-parallel processes on this machine (CPU, gloo; default 1 = this process). Each trains "
            "batch_size / ranks rows of every step; batch_size must divide by it. The model's bytes depend "
            "on it (a sum of per-rank gradients), so it enters the stage key; ranks x threads should match "
            "the cores"
        ),
    )

    @model_validator(mode="after")
    def _ranks_divide_batch(self) -> PretrainConfig:
        if self.batch_size % self.ranks:
            raise ValueError(f"batch_size {self.batch_size} does not divide by ranks {self.ranks}")
        return self
