"""The optimizer's config, apart from the loop so that validating a config file never imports torch."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OptimConfig(BaseModel):
    """AdamW with warm-up and a decay schedule."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-3, gt=0, description="peak learning rate (default 1e-3)")
    warmup_steps: int = Field(10, ge=0, description="linear warm-up steps (default 10)")
    schedule: str = Field(
        "cosine",
        pattern="^(cosine|constant|linear)$",
        description="decay after warm-up to min_lr_ratio*lr (default cosine)",
    )
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="final lr as a fraction of lr (default 0.1)")
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay (default 0.1)")
    betas: tuple[float, float] = Field((0.9, 0.98), description="AdamW betas (default (0.9, 0.98))")
    grad_clip: float = Field(1.0, gt=0, description="max gradient norm (default 1.0)")
