"""Resumable checkpoints: trainable weights, optimizer state, RNG state and the position in the run.

Our own format rather than accelerate's save_state, because save_state writes the whole model: with LoRA
on an 8B model that is 16 GB of frozen weights per checkpoint where the adapter is ~0.3 GB. Weights go to
safetensors; optimizer and RNG state (tensors and numbers only) to a torch file read back with
``weights_only=True``, so loading runs no pickled code. The data position needs no saving: each stage's
batch order is a pure function of the seed, so "stage i, step k" is the whole position.

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


def save_checkpoint(
    output_dir: Path,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    config: dict[str, Any],
) -> Path:
    """Write checkpoint ``stage{i}-step{k}`` and point ``latest`` at it; older checkpoints are removed."""
    root = checkpoint_root(output_dir)
    name = f"stage{state['stage']}-step{state['step']:08d}"
    tmp = root / f".tmp-{name}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in trainable.items()}, str(tmp / "trainable.safetensors"))
    torch.save(
        {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt"
    )
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


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    """Copy the checkpoint's trainable tensors into ``model``; every trainable name must match."""
    saved = load_file(str(path / "trainable.safetensors"))
    params = dict(model.named_parameters())
    wanted = {n for n, p in params.items() if p.requires_grad}
    if set(saved) != wanted:
        diff = sorted(set(saved) ^ wanted)[:5]
        raise RuntimeError(f"checkpoint {path} does not match the model's trainable parameters: {diff}")
    with torch.no_grad():
        for name, tensor in saved.items():
            params[name].copy_(tensor.to(params[name].device, params[name].dtype))


def load_optimizer(optimizer: torch.optim.Optimizer, path: Path) -> None:
    blob = torch.load(path / "optimizer.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(blob["optimizer"])
    torch.set_rng_state(blob["torch_rng"])
