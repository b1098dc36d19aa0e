"""Where a stage's weights come from: a base model plus the adapters merged into it, in order.

Every stage of every run (the embedded world's tiny model, a named model, a local folder, a hub id) writes
``lineage.json`` beside its outputs: the base model reference and the adapter folders that rebuild its
weights. So a LoRA stage needs to store only its adapter (78 MB for SmolLM2-135M at r=64, not 540 MB of
merged weights), a later stage can continue that adapter (the paper: AFT continues the MSM adapter), and
an evaluation rebuilds exactly the trained model. A stage's starting model is a pure function of the
source config and the parent's lineage, so a resumed run rebuilds exactly what an uninterrupted one had.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from valuesfirst.models.load import load_tokenizer as _load_ref_tokenizer
from valuesfirst.models.load import load_weights as _load_ref_weights
from valuesfirst.models.tiny import build_tiny_model
from valuesfirst.models.tokens import resize_for_tokenizer
from valuesfirst.train.chat import setup_chat_template
from valuesfirst.train.lora import load_adapter, resolve_targets, wrap_lora
from valuesfirst.train.recipe import Recipe
from valuesfirst.train.train_config import ModelSource

LINEAGE_FILE = "lineage.json"


@dataclass(frozen=True)
class Lineage:
    """``base`` (a model reference) with ``adapters`` (folders) merged into it in order."""

    base: str
    adapters: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "adapters": list(self.adapters)}

    @classmethod
    def read(cls, stage_dir: Path) -> Lineage:
        """The lineage written in ``stage_dir``; relative entries are resolved against that folder."""
        data = json.loads((stage_dir / LINEAGE_FILE).read_text(encoding="utf-8"))

        def resolve(entry: str) -> str:
            return str((stage_dir / entry).resolve()) if entry.startswith(("./", "../")) else entry

        return cls(base=resolve(str(data["base"])), adapters=tuple(resolve(str(a)) for a in data["adapters"]))

    def write(self, into: Path, final_dir: Path | None = None) -> None:
        """Write ``lineage.json`` into ``into`` (a folder being built) for its final place ``final_dir``.

        Folders beside ``final_dir`` (stages of the same run) are written relative to it, so a run folder
        that is moved or copied keeps working; model references and other paths are kept as they are.
        """
        final = (final_dir or into).resolve()

        def portable(entry: str) -> str:
            p = Path(entry)
            if not p.is_absolute() or final.parent not in p.resolve().parents:
                return entry
            rel = os.path.relpath(p.resolve(), final)
            return rel if rel.startswith("../") else "./" + rel

        data = {"base": portable(self.base), "adapters": [portable(a) for a in self.adapters]}
        into.mkdir(parents=True, exist_ok=True)
        (into / LINEAGE_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")


def load_tokenizer(source: ModelSource, needs_chat: bool) -> tuple[PreTrainedTokenizerBase, list[str]]:
    """The base tokenizer, with a chat template when a stage trains on chats; also the tokens it added."""
    tokenizer = _load_ref_tokenizer(
        source.path, trust_remote_code=source.trust_remote_code, field="model.path"
    )
    added = setup_chat_template(tokenizer, source.chat_template) if needs_chat else []
    if tokenizer.eos_token_id is None:
        from valuesfirst.errors import InputError

        raise InputError.single(
            f"the tokenizer of {source.path} has no EOS token to end documents with", field="model.path"
        )
    return tokenizer, added


def load_base(
    source: ModelSource, ref: str, tokenizer: PreTrainedTokenizerBase, dtype: torch.dtype, seed: int
) -> Any:
    """Weights of ``ref`` (random from ``source.tiny`` when ``ref`` is the source itself), embeddings grown
    to the tokenizer with deterministic rows, KV cache off (it would switch off packed isolation)."""
    if source.tiny is not None and ref == source.path:
        model: Any = build_tiny_model(source.tiny, tokenizer, seed)
        model = model.to(dtype)
    else:
        attn = None if source.attn_implementation == "auto" else source.attn_implementation
        model = _load_ref_weights(
            ref, trust_remote_code=source.trust_remote_code, dtype=dtype, attn_implementation=attn,
            field="model.path",
        )  # fmt: skip
    resize_for_tokenizer(model, len(tokenizer))
    model.config.use_cache = False
    return model


def merged(
    source: ModelSource, lineage: Lineage, tokenizer: PreTrainedTokenizerBase, dtype: torch.dtype, seed: int
) -> Any:
    """The weights ``lineage`` describes: its base with every adapter merged, in order."""
    from peft import PeftModel

    model = load_base(source, lineage.base, tokenizer, dtype, seed)
    for adapter in lineage.adapters:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return model


def start_mode(recipe: Recipe, parent: Lineage) -> str:
    """``full`` (all weights), ``continue`` (keep training the parent's last adapter) or ``fresh``."""
    if recipe.finetune == "full":
        return "full"
    return "continue" if recipe.lora.continue_adapter and parent.adapters else "fresh"


def start_model(
    source: ModelSource,
    recipe: Recipe,
    parent: Lineage,
    tokenizer: PreTrainedTokenizerBase,
    added: list[str],
    dtype: torch.dtype,
    seed: int,
) -> Any:
    """The model a stage starts from, rebuilt from files. ``seed`` initialises a fresh adapter."""
    mode = start_mode(recipe, parent)
    if mode == "continue":
        base = merged(source, Lineage(parent.base, parent.adapters[:-1]), tokenizer, dtype, seed)
        resolve_targets(base, recipe.lora)  # a target the model lacks fails here, named
        return load_adapter(base, Path(parent.adapters[-1]))
    base = merged(source, parent, tokenizer, dtype, seed)
    if mode == "full":
        return base
    targets = resolve_targets(base, recipe.lora)
    vocab = tokenizer.get_vocab()
    torch.manual_seed(seed)
    return wrap_lora(base, recipe.lora, targets, [int(vocab[t]) for t in added] or None)


def continue_from(
    previous: Any, recipe: Recipe, tokenizer: PreTrainedTokenizerBase, added: list[str], seed: int
) -> Any:
    """The next stage's starting model from the previous stage's model still in memory."""
    if recipe.finetune == "full" or recipe.lora.continue_adapter:
        return previous  # the paper: AFT keeps training the MSM adapter
    # outputs.save_stage_outputs already merged it in place when no later stage needed the adapter.
    base = previous.merge_and_unload() if hasattr(previous, "merge_and_unload") else previous
    vocab = tokenizer.get_vocab()
    torch.manual_seed(seed)
    return wrap_lora(
        base, recipe.lora, resolve_targets(base, recipe.lora), [int(vocab[t]) for t in added] or None
    )


def child_lineage(recipe: Recipe, parent: Lineage, stage_dir: Path) -> Lineage:
    """The lineage of a stage trained from ``parent`` whose outputs are in ``stage_dir``."""
    mode = start_mode(recipe, parent)
    if mode == "full":
        return Lineage(str(stage_dir / "model"))
    kept = parent.adapters[:-1] if mode == "continue" else parent.adapters
    return Lineage(parent.base, (*kept, str(stage_dir / "adapter")))


def weights_dtype(recipe: Recipe, bf16: bool) -> torch.dtype:
    # Frozen LoRA bases can live in bf16 (half the memory, autocast computes in bf16 anyway); trained
    # weights stay fp32 so AdamW updates are not rounded away (autocast supplies the bf16 speed).
    return torch.bfloat16 if bf16 and recipe.finetune == "lora" else torch.float32


def use_bf16(recipe: Recipe) -> bool:
    gpu_bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if recipe.precision == "auto":
        return gpu_bf16
    if recipe.precision == "fast":
        return gpu_bf16 or (not torch.cuda.is_available() and cpu_has_native_bf16())
    return recipe.precision == "bf16"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AMX tiles or avx512_bf16), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))
