"""`valuesfirst train`'s configuration: model, data files, stage ordering, and the one recipe (recipe.py).

`valuesfirst train` is the one-ordering case of the experiment engine: the same stage trainer (stage.py),
the same recipe, the same outputs. Its defaults are the MSM paper's recipe (App. B.4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from valuesfirst.models.tiny_config import TinyModelConfig
from valuesfirst.train.recipe import Recipe

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
        description="a named model (smollm2-135m-instruct), a local folder or a hub id (e.g. "
        "Qwen/Qwen2.5-7B). With `tiny`, only the tokenizer is loaded from here and the weights are built "
        "from `tiny` at random."
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


class TrainConfig(_Strict):
    """One `valuesfirst train` run: the stages of an ordering on one base model."""

    model: ModelSource
    data: DataConfig = Field(default_factory=DataConfig)
    ordering: Ordering = Field("values_first", description="stage order (default values_first: MSM→AFT)")
    recipe: Recipe = Field(
        default_factory=Recipe,
        description="the recipe of every stage (train/recipe.py; default: the paper's, LoRA r=64)",
    )
    seed: int = Field(0, description="data order and adapter initialisation (default 0)")
    output_dir: Path = Field(Path("runs/train"), description="stage outputs, checkpoints, logs")
    checkpoint_every: int = Field(
        0, ge=0, description="save a resumable checkpoint every N optimizer steps (default 0: never)"
    )
    keep_checkpoints: bool = Field(
        False, description="keep checkpoints/ after every stage has finished (default false: removed)"
    )
    save_merged: bool = Field(
        True,
        description="write each LoRA stage's merged model/ beside its adapter/ (default true: what vLLM "
        "and `eval --model` load); false keeps only adapters and lineage.json",
    )
    resume: bool = Field(True, description="resume from the last checkpoint in output_dir if one exists")
    log_every: int = Field(10, ge=1, description="log loss, lr, tokens/s, MFU every N steps (default 10)")
    report_to: Literal["auto", "tensorboard", "wandb", "none"] = Field(
        "auto",
        description="where step metrics go besides OUT/metrics.jsonl (always written): auto = TensorBoard "
        "(OUT/tensorboard) when the tensorboard package is installed; tensorboard / wandb require theirs",
    )

    @field_validator("report_to")
    @classmethod
    def _reporter_installed(cls, value: str) -> str:
        """Named at load time, not after the model is loaded: `report_to: wandb` without wandb."""
        import importlib.util

        if value in ("tensorboard", "wandb") and importlib.util.find_spec(value) is None:
            raise ValueError(f"{value} needs the {value} package: pip install {value} (or report_to: auto)")
        return value

    @model_validator(mode="after")
    def _data_for_stages(self) -> TrainConfig:
        need = {k for s in ORDERINGS[self.ordering] for k in (("msm", "aft") if s == "mixed" else (s,))}
        missing = [k for k in sorted(need) if not getattr(self.data, k)]
        if missing:
            raise ValueError(f"ordering {self.ordering!r} needs data for {missing} (data.{missing[0]})")
        if self.data.it_fraction > 0 and not self.data.it:
            raise ValueError("data.it_fraction > 0 needs data.it files")
        if self.recipe.mix is not None:
            raise ValueError("recipe.mix is for experiment stages; `valuesfirst train` mixes by it_fraction")
        return self

    @property
    def stages(self) -> tuple[StageKind, ...]:
        return ORDERINGS[self.ordering]
