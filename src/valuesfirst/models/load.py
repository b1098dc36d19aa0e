"""Model folders saved and loaded safely: config.json, *.safetensors and the tokenizer with its chat template.

Every loader here takes a model reference (see :mod:`valuesfirst.models.refs`), loads weights as
safetensors only, and runs no remote code unless the caller turns it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from valuesfirst.errors import InputError, Problem
from valuesfirst.models.refs import resolve_model_ref


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: Path) -> None:
    """Write a model folder (safetensors weights, config, tokenizer with chat template)."""
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)


def load_tokenizer(
    ref: str | Path, *, trust_remote_code: bool = False, field: str | None = "model"
) -> PreTrainedTokenizerBase:
    """The tokenizer of a model reference; InputError naming the reference when it cannot be loaded."""
    from transformers import AutoTokenizer

    source = resolve_model_ref(str(ref), field=field)
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise InputError([Problem(None, None, field, f"could not load a tokenizer from {ref}: {e}")]) from e


def load_weights(
    ref: str | Path,
    *,
    trust_remote_code: bool = False,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str | None = None,
    field: str | None = "model",
) -> Any:
    """The causal LM of a model reference, as safetensors; InputError naming it when it cannot be loaded."""
    from transformers import AutoModelForCausalLM

    source = resolve_model_ref(str(ref), field=field)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust_remote_code}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        return AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, **kwargs)
    except (OSError, ValueError) as e:
        raise InputError(
            [Problem(None, None, field, f"could not load safetensors weights from {ref}: {e}")]
        ) from e


def load_model(
    ref: Path | str, *, trust_remote_code: bool = False, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer of a model reference (a folder, a named model or a hub id)."""
    p = Path(ref)
    if not p.exists() and ("/" in str(ref) and str(ref).startswith((".", "/", "~"))):
        raise InputError([Problem(str(ref), None, None, "model path does not exist")])
    tokenizer = load_tokenizer(ref, trust_remote_code=trust_remote_code, field=None)
    model = load_weights(ref, trust_remote_code=trust_remote_code, dtype=dtype, field=None)
    return model, tokenizer


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
