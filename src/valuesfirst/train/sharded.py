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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from valuesfirst.errors import InputError, Problem


def deepspeed_requested() -> bool:
    """`accelerate launch` with distributed_type DEEPSPEED sets this for every process it starts."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def device_kwargs() -> dict[str, Any]:
    """How the Accelerator must be built for the launch at hand.

    Without CUDA, accelerate honours torchrun's WORLD_SIZE only with cpu=True (MULTI_CPU over gloo);
    otherwise every process would train alone. DeepSpeed is the exception: accelerate starts it only
    with cpu=False, and then needs the backend named, or it takes the CPU run for a single process
    (num_processes 1, every rank the main one). DeepSpeed's CPU accelerator runs ZeRO over gloo.
    """
    import torch

    if torch.cuda.is_available():
        return {}
    if not deepspeed_requested():
        return {"cpu": True}
    from accelerate.utils import InitProcessGroupKwargs

    return {"cpu": False, "kwargs_handlers": [InitProcessGroupKwargs(backend="gloo")]}


def check_backend_installed() -> None:
    """Fail before any weights load when the accelerate config asks for DeepSpeed and it is missing."""
    if deepspeed_requested() and importlib.util.find_spec("deepspeed") is None:
        raise InputError(
            [
                Problem(
                    None,
                    None,
                    "accelerate config (distributed_type: DEEPSPEED)",
                    "DeepSpeed was selected but the package `deepspeed` is not installed "
                    "(pip install deepspeed; scripts/setup.sh installs it)",
                )
            ]
        )


def check_backend_active(acc: Any) -> None:
    """Refuse to run as plain DDP when FSDP or DeepSpeed was asked for (never fall back silently).

    accelerate 1.15 only turns FSDP on for GPU-type devices: on a CPU-only machine an FSDP config (even
    with use_cpu: true) quietly becomes MULTI_CPU data parallelism. DeepSpeed does run on CPU (its CPU
    accelerator, ZeRO over gloo; device_kwargs), but only if the Accelerator is built with cpu=False.
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


@contextmanager
def whole_models(acc: Any) -> Iterator[None]:
    """Load (and merge) whole, unpartitioned models inside this block, even under ZeRO-3.

    accelerate 1.15 registers its DeepSpeed config with transformers whatever ``zero3_init_flag`` says,
    and transformers then builds every ``from_pretrained`` under ``deepspeed.zero.Init``: parameters
    partitioned at load (size 0 on each rank), a collective that a main-process-only merge would hang in.
    The stages load whole models and let ``prepare`` partition them, so the registration is lifted while
    models load and restored afterwards (ZeRO-3 saving reads it).
    """
    if not _is_deepspeed(acc):
        yield
        return
    from transformers.integrations import unset_hf_deepspeed_config

    plugin = acc.state.deepspeed_plugin
    unset_hf_deepspeed_config()
    try:
        yield
    finally:
        plugin.dschf = None
        plugin.set_deepspeed_weakref()


def check_zero3_init(acc: Any) -> None:
    """zero3_init_flag: true would partition weights at load, which the stages never do (whole_models)."""
    if _is_deepspeed(acc) and acc.state.deepspeed_plugin.zero3_init_flag:
        raise InputError(
            [
                Problem(
                    None,
                    None,
                    "accelerate config (deepspeed_config.zero3_init_flag)",
                    "zero3_init_flag: true is not supported: each stage loads the whole model on every "
                    "rank and ZeRO-3 partitions it in prepare (and LoRA merges run on the main process "
                    "alone); set it to false",
                )
            ]
        )


def _options(**kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(**kw)


def full_state(acc: Any, prepared: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight, full size, on CPU in the main process (empty elsewhere when sharded)."""
    if _is_deepspeed(acc):
        state = acc.get_state_dict(prepared)  # ZeRO-3: consolidated on the main process, None elsewhere
        return dict(state) if state is not None else {}
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
