"""Reading and writing the state of a prepared model whatever accelerate wrapped it in (none, DDP, FSDP,
DeepSpeed): gathered full tensors on the main process, loaded back into every rank's shards.

Plain, DDP and FSDP (1 and 2) models go through torch.distributed.checkpoint.state_dict, which names
tensors by their unwrapped names, gathers shards to rank 0 (``full_state_dict`` + ``cpu_offload``) and
scatters full tensors back into shards. DeepSpeed goes through accelerate (``get_state_dict`` for weights,
``save_state``/``load_state`` for the optimizer), as its docs prescribe; ZeRO-3 needs
``zero3_save_16bit_model: true`` for the weights (accelerate raises otherwise). Every function here is a
collective: all ranks must call it, in the same order.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch

from valuesfirst.errors import InputError, Problem


def check_backend_installed() -> None:
    """Fail before any weights load when the accelerate config asks for DeepSpeed and it is missing."""
    wanted = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    if wanted and importlib.util.find_spec("deepspeed") is None:
        raise InputError(
            [
                Problem(
                    None,
                    None,
                    "accelerate config (distributed_type: DEEPSPEED)",
                    "DeepSpeed was selected but the package `deepspeed` is not installed "
                    "(pip install deepspeed; it needs CUDA)",
                )
            ]
        )


def check_backend_active(acc: Any) -> None:
    """Refuse to run as plain DDP when FSDP or DeepSpeed was asked for (never fall back silently).

    accelerate 1.15 only turns FSDP and DeepSpeed on for GPU-type devices; on a CPU-only machine an FSDP
    config (even with use_cpu: true) quietly becomes MULTI_CPU data parallelism.
    """
    from accelerate.utils import DistributedType

    for env, kind in (("ACCELERATE_USE_FSDP", DistributedType.FSDP), ("ACCELERATE_USE_DEEPSPEED", None)):
        kind = kind or DistributedType.DEEPSPEED
        if os.environ.get(env, "").lower() == "true" and acc.distributed_type != kind:
            raise InputError(
                [
                    Problem(
                        None,
                        None,
                        f"accelerate config (distributed_type: {kind.value})",
                        f"{kind.value} was selected but accelerate set up {acc.distributed_type.value} on "
                        f"{acc.device.type}: accelerate runs FSDP and DeepSpeed on GPUs only",
                    )
                ]
            )


def is_sharded(acc: Any) -> bool:
    """Weights or optimizer state are split across ranks, so no rank's module holds the whole of them."""
    from accelerate.utils import DistributedType

    return acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def _is_deepspeed(acc: Any) -> bool:
    from accelerate.utils import DistributedType

    return bool(acc.distributed_type == DistributedType.DEEPSPEED)


def _options(**kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(**kw)


def full_state(acc: Any, prepared: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight, full size, on CPU in the main process (empty elsewhere when sharded)."""
    if _is_deepspeed(acc):
        return dict(acc.get_state_dict(prepared))
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state = get_model_state_dict(prepared, options=_options(full_state_dict=True, cpu_offload=True))
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def trainable_full(acc: Any, prepared: torch.nn.Module, names: set[str]) -> dict[str, torch.Tensor]:
    """The trainable weights, full size, detached copies on CPU in the main process (empty elsewhere)."""
    state: dict[str, Any]
    if _is_deepspeed(acc):
        state = full_state(acc, prepared)
    else:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        opts = _options(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
        state = dict(get_model_state_dict(prepared, options=opts))
    return {k: v.detach().cpu().clone() for k, v in state.items() if k in names}


def load_trainable_full(acc: Any, prepared: torch.nn.Module, saved: dict[str, Any]) -> None:
    """Copy full-size trainable tensors (every rank passes the same) into the model's own shards."""
    if _is_deepspeed(acc):
        return  # accelerate's load_state (load_optimizer) restores DeepSpeed weights with the optimizer
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    result = set_model_state_dict(prepared, saved, options=_options(full_state_dict=True, strict=False))
    missing = [k for k in saved if k in set(result.unexpected_keys)]
    if missing:
        raise RuntimeError(f"checkpoint tensors the model does not have: {missing[:5]}")


def optimizer_state(acc: Any, prepared: torch.nn.Module, optimizer: Any, path: Path) -> dict[str, Any]:
    """The optimizer state keyed by parameter name, gathered on the main process.

    DeepSpeed's optimizer state stays sharded: accelerate's ``save_state`` writes it under ``path``
    (which is then collective and writes from every rank) and an empty dict is returned.
    """
    if _is_deepspeed(acc):
        acc.save_state(str(path / "accelerate"))
        return {}
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    inner = getattr(optimizer, "optimizer", optimizer)
    opts = _options(full_state_dict=True, cpu_offload=True)
    return dict(get_optimizer_state_dict(prepared, inner, options=opts))


def load_optimizer_state(
    acc: Any, prepared: torch.nn.Module, optimizer: Any, state: dict[str, Any], path: Path
) -> None:
    if _is_deepspeed(acc):
        acc.load_state(str(path / "accelerate"))
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    inner = getattr(optimizer, "optimizer", optimizer)
    set_optimizer_state_dict(prepared, inner, state, options=_options(full_state_dict=True))


def configure_deepspeed(acc: Any, batch_size: int, grad_accum: int, grad_clip: float) -> None:
    """Fill the DeepSpeed config from the train config before ``prepare`` (no-op for other backends).

    We hand accelerate no DataLoader, so it cannot infer the micro-batch size; and DeepSpeed steps and
    scales the loss by its own gradient_accumulation_steps, which must equal ours (loop.train_steps
    multiplies the loss by grad_accum precisely because the backend divides by it) and clips itself.
    """
    if not _is_deepspeed(acc):
        return
    ds = acc.state.deepspeed_plugin.deepspeed_config
    ds["train_micro_batch_size_per_gpu"] = batch_size
    ds["gradient_accumulation_steps"] = grad_accum
    ds["train_batch_size"] = batch_size * grad_accum * acc.num_processes
    ds["gradient_clipping"] = grad_clip
    acc.gradient_accumulation_steps = grad_accum
