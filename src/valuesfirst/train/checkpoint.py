"""Resumable checkpoints: trainable weights, optimizer state, RNG state and the position in the run.

Our own format rather than accelerate's save_state, because save_state writes the whole model: with LoRA
on an 8B model that is 16 GB of frozen weights per checkpoint where the adapter is ~0.3 GB. Weights go to
safetensors; optimizer and RNG state (tensors and numbers only) to a torch file read back with
``weights_only=True``, so loading runs no pickled code. The data position needs no saving: each stage's
batch order is a pure function of the seed, so "stage i, step k" is the whole position. Under FSDP the
tensors are gathered to the main process first (sharded.py); under DeepSpeed, whose optimizer state stays
sharded, accelerate's save_state output sits beside them in ``accelerate/``. That folder holds DeepSpeed's
and accelerate's own torch pickles (optimizer shards, random_states_*.pkl), which they load with full
unpickling: resume only from checkpoints your own runs wrote.

A checkpoint folder is written under a temporary name and renamed, so a run killed mid-save leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from valuesfirst.jsonl import write_json

STATE_FILE = "state.json"


def checkpoint_root(output_dir: Path) -> Path:
    return output_dir / "checkpoints"


def checkpoint_name(state: dict[str, Any]) -> str:
    return f"stage{state['stage']}-step{state['step']:08d}"


def staging_dir(output_dir: Path, state: dict[str, Any]) -> Path:
    """Where checkpoint ``state`` is assembled before the rename (DeepSpeed ranks write into it too)."""
    return checkpoint_root(output_dir) / f".tmp-{checkpoint_name(state)}"


def save_checkpoint(
    output_dir: Path,
    trainable: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    state: dict[str, Any],
    config: dict[str, Any],
) -> Path:
    """Write checkpoint ``stage{i}-step{k}`` (main process) and point ``latest`` at it; older ones go.

    ``trainable`` and ``optimizer_state`` are full (gathered) and keyed by parameter name (sharded.py), so
    a checkpoint does not depend on how many ranks wrote it or how they split the weights.
    """
    root = checkpoint_root(output_dir)
    name = checkpoint_name(state)
    tmp = staging_dir(output_dir, state)
    tmp.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in trainable.items()}, str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer_state, "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
    write_json(tmp / STATE_FILE, state)
    write_json(tmp / "config.json", config)
    final = root / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    (root / "latest.tmp").write_text(name, encoding="utf-8")
    os.replace(root / "latest.tmp", root / "latest")
    for old in root.iterdir():
        if old.is_dir() and old.name != name and not old.name.startswith(".tmp-"):
            shutil.rmtree(old)
    return final


def latest_checkpoint(output_dir: Path) -> Path | None:
    pointer = checkpoint_root(output_dir) / "latest"
    if not pointer.is_file():
        return None
    path = checkpoint_root(output_dir) / pointer.read_text(encoding="utf-8").strip()
    return path if (path / STATE_FILE).is_file() else None


def read_state(path: Path) -> dict[str, Any]:
    return dict(json.loads((path / STATE_FILE).read_text(encoding="utf-8")))


def load_trainable(path: Path, names: set[str]) -> dict[str, torch.Tensor]:
    """The checkpoint's trainable tensors; their names must be exactly ``names`` (the model's)."""
    saved = load_file(str(path / "trainable.safetensors"))
    if set(saved) != names:
        diff = sorted(set(saved) ^ names)[:5]
        raise RuntimeError(f"checkpoint {path} does not match the model's trainable parameters: {diff}")
    return saved


def load_optimizer(path: Path) -> dict[str, Any]:
    """The optimizer state (keyed by parameter name); restores the torch RNG state as a side effect."""
    blob = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
    torch.set_rng_state(blob["torch_rng"])
    return dict(blob["optimizer"])
