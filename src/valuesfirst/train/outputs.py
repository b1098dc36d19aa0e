"""A stage's outputs: ``adapter/`` (LoRA) and/or ``model/`` (full weights), the tokenizer, ``lineage.json``.

A LoRA stage always writes its adapter; the merged full model is written when asked for (`valuesfirst
train` does by default: it is what vLLM and `eval --model` serve) or when the stage fine-tuned every
weight. Under FSDP or DeepSpeed no rank holds the whole model, so the weights come from one gathered state
dict (sharded.full_state) and only the main process writes. A merged model is built from the saved files
on the CPU of the main process (the base weights reloaded plus the saved adapters) rather than from the
live training model: that needs no second copy of the model in accelerator memory while a later stage keeps
training the adapter, is exact (PEFT's unmerge after an in-place merge would not be), and is right under
sharding too.

Adapters are saved without the embedding matrices (PEFT's ``save_embedding_layers`` would otherwise store
both full matrices whenever ChatML tokens were added to a base vocabulary: 1.4 GB per stage for Gemma 3 270M
to hold 1,280 trained numbers). The added rows' trained values are in the adapter (trainable tokens), and
their untrained starting values are deterministic (models.tokens.resize_for_tokenizer), so the base plus
the adapter rebuilds the model exactly.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from valuesfirst.train.chat import finalize_for_chat
from valuesfirst.train.lineage import Lineage, merged
from valuesfirst.train.train_config import ModelSource


def chat_tokenizer(tokenizer: PreTrainedTokenizerBase, model: Any) -> PreTrainedTokenizerBase:
    """A copy of ``tokenizer`` whose EOS ends an assistant turn (and ``model``'s config to match)."""
    chat_tok = copy.deepcopy(tokenizer)
    finalize_for_chat(chat_tok, model)  # EOS = <|im_end|> for ChatML models (documents kept theirs)
    return chat_tok


def save_full_model(
    model: Any, tokenizer: PreTrainedTokenizerBase, path: Path, state_dict: dict[str, torch.Tensor] | None
) -> None:
    """``model`` (or ``state_dict`` with its config) as safetensors with a chat-ready tokenizer."""
    chat_tok = chat_tokenizer(tokenizer, model)
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


def save_adapter(
    model: Any, tokenizer: PreTrainedTokenizerBase, path: Path, state_dict: dict[str, torch.Tensor] | None
) -> None:
    """The adapter (no embedding matrices) and the chat-ready tokenizer."""
    extra = {"state_dict": state_dict} if state_dict is not None else {}  # PEFT picks the adapter's tensors
    model.save_pretrained(str(path), safe_serialization=True, save_embedding_layers=False, **extra)
    # Only the tokenizer is made chat-ready here: the live model keeps its config for the next stage.
    holder = SimpleNamespace(config=SimpleNamespace(), generation_config=None)
    chat_tokenizer(tokenizer, holder).save_pretrained(str(path))


def save_stage_outputs(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    source: ModelSource,
    mode: str,
    lineage: Lineage,
    out: Path,
    *,
    write: bool,
    dtype: torch.dtype,
    save_merged: bool,
    carry_adapter: bool,
    seed: int,
    final_dir: Path | None = None,
    gathered: dict[str, torch.Tensor] | None = None,
) -> Any:
    """Write the outputs of a stage into ``out`` when ``write`` (the main process); return the model the
    next stage continues from in memory, or None when it must be rebuilt from these files.

    ``mode`` is lineage.start_mode's; ``lineage`` the stage's own (child_lineage); ``carry_adapter``: a
    later stage keeps training this adapter in memory. ``model`` is the unwrapped training model;
    ``gathered`` its full state dict when it is sharded (then None is returned: a sharded module cannot be
    carried into the next stage's ``prepare``). Every rank calls this, so all of them hold the same model.
    """
    sharded = gathered is not None
    if write:
        lineage.write(out, final_dir)
    if mode == "full":
        if write:
            save_full_model(model, tokenizer, out / "model", gathered)
        return None if sharded else model
    if write:
        save_adapter(model, tokenizer, out / "adapter", gathered)
    if sharded or carry_adapter:
        if write and save_merged:
            # The lineage names this stage's adapter at its final place; read it where it is now.
            here = Lineage(lineage.base, (*lineage.adapters[:-1], str(out / "adapter")))
            full = merged(source, here, tokenizer, dtype, seed)
            save_full_model(full, tokenizer, out / "model", None)
            del full
        return None if sharded else model
    # No later stage trains this adapter: merge in place on every rank (cheapest, and exact).
    full = model.merge_and_unload()
    if write and save_merged:
        save_full_model(full, tokenizer, out / "model", None)
    return full
