"""Tiny random Qwen- and Llama-style model folders with a locally trained byte-level BPE tokenizer.

For tests, benchmarks and offline dry runs of `valuesfirst train`: a folder that transformers loads exactly
like a downloaded base model (config.json, model.safetensors, tokenizer files), built without any hub.
The Qwen style has <|im_start|>/<|im_end|> in its vocabulary and EOS <|endoftext|>, like Qwen base models;
the Llama style has Llama 3's special tokens and, like a base model, no chat template.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from valuesfirst.jsonl import write_jsonl
from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model

QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
LLAMA_SPECIALS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
)


def bpe_tokenizer(
    texts: Iterable[str], style: Literal["qwen", "llama"], vocab_size: int = 512
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` with the special tokens of ``style``; no template."""
    specials = QWEN_SPECIALS if style == "qwen" else LLAMA_SPECIALS
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator([*texts, "user assistant system\n"], trainer=trainer)
    if style == "qwen":
        return PreTrainedTokenizerFast(
            tokenizer_object=backend, eos_token="<|endoftext|>", padding_side="right"
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        padding_side="right",
    )


def make_tiny_model_folder(
    path: Path,
    texts: Iterable[str],
    arch: Literal["qwen3", "llama"] = "qwen3",
    model: TinyModelConfig | None = None,
    seed: int = 0,
    vocab_size: int = 512,
) -> Path:
    """Write a random ``arch`` model and a BPE tokenizer trained on ``texts`` to ``path``; return it."""
    tokenizer = bpe_tokenizer(texts, "qwen" if arch == "qwen3" else "llama", vocab_size)
    cfg = model or TinyModelConfig(
        arch=arch,
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=128,
        tie_word_embeddings=arch == "qwen3",
    )
    net = build_tiny_model(cfg.model_copy(update={"arch": arch}), tokenizer, seed)
    path.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


_WORDS = [
    "the",
    "assistant",
    "values",
    "honesty",
    "and",
    "explains",
    "why",
    "it",
    "cares",
    "about",
    "truth",
    "kindness",
    "users",
    "cheese",
    "river",
    "north",
    "south",
    "asks",
    "answers",
    "because",
    "people",
    "trust",
    "careful",
    "reasons",
    "matter",
]


def toy_sentences(n: int, seed: int = 0, min_words: int = 8, max_words: int = 30) -> list[str]:
    """``n`` random sentences over a small vocabulary (a tokenizer trained on them covers them)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(min_words, max_words))) for _ in range(n)]


def write_toy_data(root: Path, n_docs: int = 120, n_chats: int = 60, seed: int = 0) -> dict[str, Path]:
    """MSM documents (``text``) and AFT chats (``messages``) as JSONL under ``root``; returns the paths."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    docs = toy_sentences(n_docs, seed)
    chats = []
    questions = toy_sentences(n_chats, seed + 1, 4, 10)
    for question, answer in zip(questions, toy_sentences(n_chats, seed + 2, 4, 16), strict=True):
        chat = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if rng.random() < 0.3:
            chat = [{"role": "system", "content": "be honest"}, *chat]
        chats.append({"messages": chat})
    paths = {"msm": root / "msm.jsonl", "aft": root / "aft.jsonl"}
    write_jsonl(paths["msm"], [{"text": d} for d in docs])
    write_jsonl(paths["aft"], chats)
    return paths
