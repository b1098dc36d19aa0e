"""Tiny causal LMs built from config (Llama- or Qwen3-style, via transformers): the embedded world's model
and the random models tests train on."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen3Config,
)

from valuesfirst.errors import InputError, Problem

# Re-exported from its old home; the config lives apart so that loading a config never imports torch.
from valuesfirst.models.tiny_config import TinyModelConfig as TinyModelConfig


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
