"""LoRA through PEFT: target discovery and validation, wrapping, continuing an adapter, digests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from valuesfirst.errors import InputError, Problem
from valuesfirst.train.recipe import LoraSettings

# Attention and MLP projections of Llama, Qwen2/2.5/3, Mistral, OLMo/OLMo-2, Gemma (the paper's targets).
PROJECTIONS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Leaf names of the model's Linear layers (what `target_modules` may name), lm_head excluded."""
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")
    }
    return sorted(names)


def resolve_targets(model: torch.nn.Module, settings: LoraSettings) -> list[str]:
    """The modules to adapt; raises InputError naming any requested module the model lacks."""
    available = linear_module_names(model)
    if settings.target_modules is None:
        found = [p for p in PROJECTIONS if p in available]
        if not found:
            raise InputError(
                [
                    Problem(
                        None,
                        None,
                        "lora.target_modules",
                        f"the model has none of the usual projections {list(PROJECTIONS)}; name its "
                        f"modules explicitly (it has: {available})",
                    )
                ]
            )
        return found
    missing = [m for m in settings.target_modules if m not in available]
    if missing:
        raise InputError(
            [
                Problem(
                    None, None, "lora.target_modules", f"the model has no module {m!r}; it has: {available}"
                )
                for m in missing
            ]
        )
    return list(settings.target_modules)


def wrap_lora(
    model: Any, settings: LoraSettings, targets: list[str], new_token_ids: list[int] | None = None
) -> Any:
    """A fresh adapter on ``model`` (PEFT LoraConfig with ``settings``).

    Tokens added for the chat template have random embeddings a LoRA could not fix, so their embedding
    rows are made trainable (PEFT's trainable_token_indices) rather than left as noise.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
        trainable_token_indices=list(new_token_ids) if new_token_ids else None,
    )
    return get_peft_model(model, config)


def load_adapter(model: Any, adapter_dir: Path) -> Any:
    """``model`` with the saved adapter in ``adapter_dir``, trainable (to keep training it)."""
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise InputError(
            [Problem(str(adapter_dir), None, "lora.init_adapter", "no adapter_config.json here")]
        )
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters by name, detached on CPU (the adapter under LoRA, everything in full FT)."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """A hash of tensors' names and exact values (ranks agree iff digests agree)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
