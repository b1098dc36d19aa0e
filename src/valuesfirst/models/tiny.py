"""Tiny causal LMs built from config (Llama- or Qwen3-style, via transformers): the embedded world's model
and the random models tests train on."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen3Config,
)

from valuesfirst.errors import InputError, Problem


class TinyModelConfig(BaseModel):
    """Architecture of a model trained from scratch. Defaults: the 0.85M-parameter demo model."""

    model_config = ConfigDict(extra="forbid")

    arch: Literal["llama", "qwen3"] = Field("llama", description="transformers architecture (default llama)")
    hidden_size: int = Field(128, ge=8, description="width (default 128)")
    num_layers: int = Field(4, ge=1, description="decoder layers (default 4)")
    num_heads: int = Field(4, ge=1, description="attention heads; must divide hidden_size (default 4)")
    num_kv_heads: int | None = Field(None, description="key/value heads for GQA; None = num_heads")
    intermediate_size: int = Field(320, ge=8, description="MLP width (default 320)")
    max_position_embeddings: int = Field(512, ge=16, description="longest sequence (default 512)")
    tie_word_embeddings: bool = Field(True, description="share input and output embeddings (default true)")
    attn_implementation: Literal["sdpa", "eager"] = Field(
        "eager", description="attention kernel (default eager: ~8% faster than sdpa at this size on CPU)"
    )


def build_tiny_model(cfg: TinyModelConfig, tokenizer: PreTrainedTokenizerBase, seed: int) -> PreTrainedModel:
    """A randomly initialised model whose vocabulary and special tokens match ``tokenizer``."""
    if cfg.hidden_size % cfg.num_heads:
        raise InputError([Problem(None, None, "model.num_heads", "must divide model.hidden_size")])
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads or cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
        tie_word_embeddings=cfg.tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    config = (
        LlamaConfig(**common)
        if cfg.arch == "llama"
        else Qwen3Config(**common, head_dim=cfg.hidden_size // cfg.num_heads)
    )
    config._attn_implementation = cfg.attn_implementation
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=cfg.attn_implementation)
    return model
