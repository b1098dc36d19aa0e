"""Special tokens that training and generation agree on: the end-of-turn token, and deterministic rows for
tokens added to a vocabulary (the ChatML markers a base model lacks)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

EOT = "<|eot|>"  # the embedded world's word-level tokenizer closes turns with this

# Checked in order: the toy's <|eot|>, ChatML (Qwen, SmolLM2), Llama 3, Gemma.
_END_OF_TURN_CANDIDATES: tuple[str, ...] = (EOT, "<|im_end|>", "<|eot_id|>", "<end_of_turn>")


def eot_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The token that closes a chat turn: <|eot|> (toy), <|im_end|>, <|eot_id|>, <end_of_turn>, else eos.

    Raises ValueError when the tokenizer has none of these and no eos token.
    """
    vocab = tokenizer.get_vocab()
    for token in _END_OF_TURN_CANDIDATES:
        if token in vocab:
            return int(vocab[token])
    if tokenizer.eos_token_id is None:
        candidates = ", ".join(_END_OF_TURN_CANDIDATES)
        raise ValueError(f"tokenizer has no end-of-turn token ({candidates}) and no eos token")
    return int(tokenizer.eos_token_id)


@torch.no_grad()
def resize_for_tokenizer(model: Any, n_tokens: int) -> bool:
    """Grow the embeddings to ``n_tokens`` rows; new rows (input and output) are the mean of the old ones.

    Deterministic on purpose: transformers' default draws new rows at random, so an adapter saved without
    the full embedding matrices (see train/lora.py) could not be reloaded exactly. With mean rows the base
    model plus the adapter's trainable token rows rebuild the trained model bit for bit. Returns whether
    anything was resized.
    """
    old = int(model.get_input_embeddings().weight.shape[0])
    if old >= n_tokens:
        return False
    model.resize_token_embeddings(n_tokens, mean_resizing=False)
    emb = model.get_input_embeddings().weight
    emb[old:] = emb[:old].mean(dim=0, keepdim=True)
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != emb.data_ptr():
        out.weight[old:] = out.weight[:old].mean(dim=0, keepdim=True)
        if getattr(out, "bias", None) is not None:
            out.bias[old:] = out.bias[:old].mean()
    return True
