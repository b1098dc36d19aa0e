"""`valuesfirst train`'s configuration: model, data, stage ordering, LoRA or full fine-tuning, recipe.

The defaults are the MSM paper's recipe (App. B.4): LoRA r=64, alpha=128, dropout 0 on all attention and MLP
projections; AdamW, lr 1e-4, cosine, 5% warm-up, weight decay 0.01; 1 epoch per stage; AFT continues the
MSM adapter. Batch size is not stated in the paper; 32 rows per optimizer step follows the TDA fork.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from valuesfirst.models.tiny import TinyModelConfig

Ordering = Literal["values_first", "behaviour_first", "mixed", "aft_only", "msm_only"]
StageKind = Literal["msm", "aft", "mixed"]

# Which stages each ordering runs, in order. "mixed" is one stage over one shuffled stream of both.
ORDERINGS: dict[str, tuple[StageKind, ...]] = {
    "values_first": ("msm", "aft"),
    "behaviour_first": ("aft", "msm"),
    "mixed": ("mixed",),
    "aft_only": ("aft",),
    "msm_only": ("msm",),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSource(_Strict):
    """The base model."""

    path: str = Field(
        description="local folder or hub id (e.g. Qwen/Qwen2.5-7B). With `tiny`, only the tokenizer is "
        "loaded from here and the weights are built from `tiny` at random."
    )
    tiny: TinyModelConfig | None = Field(
        None, description="build a random model of this architecture instead of loading weights (tests)"
    )
    trust_remote_code: bool = Field(False, description="run the model repo's own code (default false)")
    chat_template: str = Field(
        "auto",
        description="`auto` (the tokenizer's own, else ChatML with generation markers), `chatml`, or a "
        "path to a Jinja file. ChatML adds <|im_start|>/<|im_end|> to a vocabulary that lacks them.",
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="attention kernel (default auto: transformers' choice)"
    )


class DataConfig(_Strict):
    """Training data: JSONL files. MSM rows need `text`; AFT and IT rows need `messages`."""

    msm: list[Path] = Field(default_factory=list, description="midtraining documents (field `text`)")
    aft: list[Path] = Field(default_factory=list, description="AFT chats (field `messages`)")
    it: list[Path] = Field(
        default_factory=list, description="instruction-tuning chats mixed into AFT (field `messages`)"
    )
    it_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="share of the AFT stage's chats drawn from `it` (default 0: none). 0.5 = as many IT "
        "chats as AFT chats. IT chats are sampled without replacement while they last.",
    )
    cot: Literal["keep", "strip"] = Field(
        "keep",
        description="`strip` removes a <think>...</think> block from assistant turns (no-CoT training); "
        "default keep",
    )


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


class RecipeConfig(_Strict):
    """Optimizer and schedule, applied to each stage afresh."""

    lr: float = Field(1e-4, gt=0, description="peak learning rate (default 1e-4)")
    schedule: Literal["cosine", "linear", "constant"] = Field("cosine", description="default cosine")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="warm-up share of a stage's steps (default 5%)")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final lr / peak lr (default 0)")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (default 0.01)")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas (default (0.9, 0.999))")
    grad_clip: float = Field(1.0, gt=0, description="max gradient norm (default 1.0)")
    epochs: float = Field(1.0, gt=0, description="passes over each stage's data (default 1)")
    max_steps: int | None = Field(
        None, ge=1, description="cap on optimizer steps per stage (default: derived from epochs)"
    )


class TrainConfig(_Strict):
    """One `valuesfirst train` run: the stages of an ordering on one base model."""

    model: ModelSource
    data: DataConfig = Field(default_factory=DataConfig)
    ordering: Ordering = Field("values_first", description="stage order (default values_first: MSM→AFT)")
    finetune: Literal["lora", "full"] = Field("lora", description="LoRA adapters or all weights")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    recipe: RecipeConfig = Field(default_factory=RecipeConfig)
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
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto",
        description="auto: bf16 mixed precision where the GPU supports it, else fp32 (CPU bf16 is slower "
        "than fp32 on CPUs without AMX). With LoRA and bf16 the frozen weights are loaded in bf16.",
    )
    seed: int = Field(0, description="data order and adapter initialisation (default 0)")
    output_dir: Path = Field(Path("runs/train"), description="stage outputs, checkpoints, logs")
    checkpoint_every: int = Field(
        0, ge=0, description="save a resumable checkpoint every N optimizer steps (default 0: never)"
    )
    resume: bool = Field(True, description="resume from the last checkpoint in output_dir if one exists")
    log_every: int = Field(10, ge=1, description="log loss, lr, tokens/s, MFU every N steps (default 10)")
    report_to: Literal["auto", "tensorboard", "wandb", "none"] = Field(
        "auto", description="auto: TensorBoard when installed; a metrics.jsonl is always written"
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")

    @model_validator(mode="after")
    def _data_for_stages(self) -> TrainConfig:
        need = {k for s in ORDERINGS[self.ordering] for k in (("msm", "aft") if s == "mixed" else (s,))}
        missing = [k for k in sorted(need) if not getattr(self.data, k)]
        if missing:
            raise ValueError(f"ordering {self.ordering!r} needs data for {missing} (data.{missing[0]})")
        if self.data.it_fraction > 0 and not self.data.it:
            raise ValueError("data.it_fraction > 0 needs data.it files")
        if self.finetune == "full" and self.lora.init_adapter is not None:
            raise ValueError("lora.init_adapter needs finetune: lora")
        return self

    @property
    def stages(self) -> tuple[StageKind, ...]:
        return ORDERINGS[self.ordering]
