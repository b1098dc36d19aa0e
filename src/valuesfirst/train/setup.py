"""Loading the base model for `valuesfirst train`, building each stage's starting model, saving its outputs.

A stage's starting model is a pure function of the config and the earlier stages' saved outputs, so a
resumed run rebuilds exactly the model an uninterrupted run had (then loads the checkpoint's weights).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from valuesfirst.errors import InputError, Problem
from valuesfirst.models.tiny import build_tiny_model
from valuesfirst.train.chat import setup_chat_template
from valuesfirst.train.lora import load_adapter, resolve_targets, wrap_lora
from valuesfirst.train.train_config import TrainConfig

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _problem(message: str) -> InputError:
    return InputError([Problem(None, None, "model.path", message)])


def resolve_model_source(path: str) -> str:
    """``path`` if it is a local folder or looks like a hub id; InputError naming it otherwise."""
    p = Path(path).expanduser()
    if p.exists():
        if not p.is_dir():
            raise _problem(f"{path} is a file; expected a model folder or a hub id")
        return str(p)
    if _HUB_ID.match(path) and not path.startswith((".", "/", "~")):
        return path
    raise _problem(f"model path does not exist: {path}")


def load_tokenizer(cfg: TrainConfig, needs_chat: bool) -> tuple[PreTrainedTokenizerBase, list[str]]:
    """The tokenizer, with a chat template when a stage trains on chats; also the tokens it added."""
    from transformers import AutoTokenizer

    source = resolve_model_source(cfg.model.path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError) as e:
        raise _problem(f"could not load a tokenizer from {cfg.model.path}: {e}") from e
    added = setup_chat_template(tokenizer, cfg.model.chat_template) if needs_chat else []
    if tokenizer.eos_token_id is None:
        raise _problem(f"the tokenizer of {cfg.model.path} has no EOS token to end documents with")
    return tokenizer, added


def load_weights(cfg: TrainConfig, tokenizer: PreTrainedTokenizerBase, path: str, dtype: torch.dtype) -> Any:
    """Base weights from ``path`` (or random from ``model.tiny``), embeddings sized to the tokenizer."""
    from transformers import AutoModelForCausalLM

    if cfg.model.tiny is not None and path == cfg.model.path:
        model: Any = build_tiny_model(cfg.model.tiny, tokenizer, cfg.seed)
        model = model.to(dtype)
    else:
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.model.trust_remote_code}
        if cfg.model.attn_implementation != "auto":
            kwargs["attn_implementation"] = cfg.model.attn_implementation
        try:
            model = AutoModelForCausalLM.from_pretrained(
                resolve_model_source(path), use_safetensors=True, **kwargs
            )
        except (OSError, ValueError) as e:
            raise _problem(f"could not load safetensors weights from {path}: {e}") from e
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model.config.use_cache = False  # a KV cache would switch off packed-sequence isolation (collate.py)
    return model


def weights_dtype(cfg: TrainConfig, bf16: bool) -> torch.dtype:
    # Frozen LoRA bases can live in bf16 (half the memory, autocast computes in bf16 anyway); trained
    # weights stay fp32 so AdamW updates are not rounded away (autocast supplies the bf16 speed).
    return torch.bfloat16 if bf16 and cfg.finetune == "lora" else torch.float32


def stage_base_path(cfg: TrainConfig, stage: int, stage_dirs: list[Path]) -> str:
    """The weights stage ``stage`` starts from (before any adapter): the base model, or the previous
    stage's merged model for a fresh adapter or full training."""
    if stage == 0 or (cfg.finetune == "lora" and cfg.lora.continue_adapter):
        return cfg.model.path
    return str(stage_dirs[stage - 1] / "model")


def stage_start_model(
    cfg: TrainConfig,
    tokenizer: PreTrainedTokenizerBase,
    added: list[str],
    stage: int,
    stage_dirs: list[Path],
    dtype: torch.dtype,
    previous: Any = None,
) -> Any:
    """The model stage ``stage`` starts from.

    ``previous`` is the model the previous stage ended with, when it is still in memory; without it
    (stage 0, or a resumed run) the model is rebuilt from the config and the earlier stages' outputs.
    """
    vocab = tokenizer.get_vocab()
    new_ids = [int(vocab[t]) for t in added] if added else None
    lora = cfg.finetune == "lora"
    if stage > 0 and previous is not None:
        if not lora or cfg.lora.continue_adapter:
            return previous  # the paper: AFT keeps training the MSM adapter
        torch.manual_seed(cfg.seed + stage)
        # outputs.save_stage_outputs already merged it in place when no later stage needed the adapter.
        base = previous.merge_and_unload() if hasattr(previous, "merge_and_unload") else previous
        return wrap_lora(base, cfg.lora, resolve_targets(base, cfg.lora), new_ids)
    base = load_weights(cfg, tokenizer, stage_base_path(cfg, stage, stage_dirs), dtype)
    if not lora:
        return base
    targets = resolve_targets(base, cfg.lora)
    if stage > 0 and cfg.lora.continue_adapter:
        return load_adapter(base, stage_dirs[stage - 1] / "adapter")
    if stage == 0 and cfg.lora.init_adapter is not None:
        return load_adapter(base, cfg.lora.init_adapter)
    torch.manual_seed(cfg.seed + stage)
    return wrap_lora(base, cfg.lora, targets, new_ids)
