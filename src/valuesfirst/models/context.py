"""A model's context length, and the check that what we feed it fits (prompts, training rows).

A prompt longer than the context does not fail loudly in transformers: positions past the limit give
garbage (RoPE extrapolation) or an index error deep in a forward pass. So every entry point that feeds a
model checks lengths first and says which item is too long, by how much, and what the limit is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from valuesfirst.errors import InputError, Problem

_UNSET = 10**8  # tokenizers without a known limit report ~1e30


def context_length(config: Any = None, tokenizer: Any = None) -> int | None:
    """The smaller of the model's position limit and the tokenizer's ``model_max_length``; None if unknown."""
    limits = []
    if config is not None:
        for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, name, None)
            if isinstance(value, int) and value > 0:
                limits.append(value)
                break
    if tokenizer is not None:
        value = getattr(tokenizer, "model_max_length", None)
        if isinstance(value, int) and 0 < value < _UNSET:
            limits.append(value)
    return min(limits) if limits else None


def check_lengths(
    lengths: Iterable[tuple[str, int]], limit: int | None, what: str, *, field: str | None = None,
    file: str | None = None, max_problems: int = 10,
) -> None:  # fmt: skip
    """InputError listing the items (``(name, n_tokens)``) longer than ``limit`` tokens."""
    if limit is None:
        return
    too_long = [(name, n) for name, n in lengths if n > limit]
    if not too_long:
        return
    problems = [
        Problem(file, None, field, f"{what} {name} is {n} tokens, longer than the model's context of {limit}")
        for name, n in too_long[:max_problems]
    ]
    if len(too_long) > max_problems:
        problems.append(Problem(file, None, field, f"... and {len(too_long) - max_problems} more"))
    raise InputError(problems)
