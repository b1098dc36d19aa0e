"""A stage's outputs: the adapter (LoRA) and the merged full model, as safetensors with the tokenizer.

Under FSDP or DeepSpeed no rank holds the whole model, so the weights come from one gathered state dict
(sharded.full_state) and only the main process writes. A LoRA model is merged from the saved files on the
CPU of the main process (the base weights reloaded plus the saved adapter) rather than from the live
training model: that needs no second copy of the model in accelerator memory while a later stage keeps
training the adapter, is exact (PEFT's unmerge after an in-place merge would not be), and is right under
sharding too.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from valuesfirst.train.chat import finalize_for_chat
from valuesfirst.train.setup import load_weights, stage_base_path
from valuesfirst.train.train_config import TrainConfig


def save_full_model(
    model: Any, tokenizer: PreTrainedTokenizerBase, path: Path, state_dict: dict[str, torch.Tensor] | None
) -> None:
    """``model`` (or ``state_dict`` with its config) as safetensors with a chat-ready tokenizer."""
    chat_tok = copy.deepcopy(tokenizer)
    finalize_for_chat(chat_tok, model)  # EOS = <|im_end|> for ChatML models (documents kept theirs)
    model.config.use_cache = True  # for generation; training keeps it off
    extra: dict[str, Any] = {}
    if state_dict is not None:
        # A gathered state dict holds tied weights (lm_head = embeddings) as separate tensors; keep the
        # names the model itself has once, as its own state_dict would.
        own = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
        extra["state_dict"] = {k: v for k, v in state_dict.items() if k in own}
    model.save_pretrained(str(path), safe_serialization=True, **extra)
    model.config.use_cache = False
    chat_tok.save_pretrained(str(path))


def merged_from_files(
    cfg: TrainConfig,
    tokenizer: PreTrainedTokenizerBase,
    base_path: str,
    adapter_dir: Path,
    dtype: torch.dtype,
) -> Any:
    """Base weights (as the stage loaded them) plus the saved adapter, merged, on CPU."""
    from peft import PeftModel

    base = load_weights(cfg, tokenizer, base_path, dtype)
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()


def save_stage_outputs(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    cfg: TrainConfig,
    stage: int,
    stage_dirs: list[Path],
    write: bool,
    dtype: torch.dtype,
    gathered: dict[str, torch.Tensor] | None = None,
) -> Any:
    """Write ``adapter/`` (LoRA) and ``model/`` of stage ``stage`` when ``write`` (the main process);
    return the model the next stage continues from, or None when it must be rebuilt from these files.

    ``model`` is the unwrapped training model; ``gathered`` its full state dict when it is sharded (then
    None is returned: a sharded module cannot be carried into the next stage's ``prepare``). Every rank
    calls this, so that all of them hold the same model afterwards.
    """
    out = stage_dirs[stage]
    last = stage == len(stage_dirs) - 1
    sharded = gathered is not None
    if cfg.finetune == "full":
        if write:
            save_full_model(model, tokenizer, out / "model", gathered)
        return None if sharded else model
    if write:
        extra = {"state_dict": gathered} if sharded else {}  # PEFT picks the adapter's tensors out of it
        model.save_pretrained(str(out / "adapter"), safe_serialization=True, **extra)
    keep = not last and cfg.lora.continue_adapter
    if sharded or keep:
        if write:
            merged = merged_from_files(
                cfg, tokenizer, stage_base_path(cfg, stage, stage_dirs), out / "adapter", dtype
            )
            save_full_model(merged, tokenizer, out / "model", None)
            del merged
        return None if sharded else model
    # No later stage trains this adapter: merge in place on every rank (cheapest, and exact).
    full = model.merge_and_unload()
    if write:
        save_full_model(full, tokenizer, out / "model", None)
    return full
