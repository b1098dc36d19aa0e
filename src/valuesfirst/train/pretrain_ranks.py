"""Pre-training data-parallel in several processes on one machine (CPU, gloo), driven from this one.

Why processes rather than threads: at the demo's size (0.85M parameters, 32x128-token batches) much of a
step is small element-wise kernels and Python dispatch, which two threads barely share. On the 2-core
EPYC measured (benchmarks/demo_timing.md), 2 ranks x 1 thread ran the demo's step 1.16-1.34x faster
than 1 process x 2 threads, but starting the ranks costs ~14 s more; so the demo keeps one process and
this is for machines with more cores. The ranks run the one loop (pretrain.pretrain_rows) under
accelerate, as `valuesfirst train` does for real models; this process only relays their progress to the
caller's callbacks and returns rank 0's summary. The tokenizer and the packed rows are made here, once,
and pickled to the ranks (training the tokenizer on every rank ran the same work twice on the same
cores). The ranks are spawned, so a script that calls this needs the usual `if __name__ == "__main__":`
guard. The base model's bytes depend on the number of ranks (a sum of per-rank gradients), which is why
``ranks`` is part of the config and so of the stage key.
"""

from __future__ import annotations

import os
import queue as queue_mod
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp
from transformers import PreTrainedTokenizerBase

from valuesfirst.train.collate import PackedRow
from valuesfirst.train.pretrain_config import PretrainConfig


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the ranks rendezvous there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pretrain_on_ranks(
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[PackedRow],
    gate_items: Sequence[dict],
    cfg: PretrainConfig,
    out: Path,
    on_step: Callable[[int, float], None] | None = None,
    on_probe: Callable[[int, dict], None] | None = None,
) -> dict:
    """Run pretrain_rows on ``cfg.ranks`` spawned processes; rank 0 writes ``out`` and its summary returns.

    A rank that fails raises here with its traceback; Ctrl-C (or any error here) stops every rank.
    """
    ctx = mp.get_context("spawn")  # fork after torch has started its thread pools can hang the child
    messages: Any = ctx.Queue()
    args = (cfg.ranks, free_port(), tokenizer, list(rows), list(gate_items), cfg, str(out), messages)
    procs = mp.start_processes(_rank_main, args=args, nprocs=cfg.ranks, join=False, start_method="spawn")
    summary: dict | None = None
    try:
        while True:
            try:
                kind, *payload = messages.get(timeout=0.2)
            except queue_mod.Empty:
                if procs.join(timeout=0):  # raises ProcessRaisedException when a rank failed
                    break
                continue
            if kind == "step" and on_step is not None:
                on_step(*payload)
            elif kind == "probe" and on_probe is not None:
                on_probe(*payload)
            elif kind == "done":
                summary = payload[0]
    finally:
        for p in procs.processes:
            if p.is_alive():
                p.terminate()
        for p in procs.processes:
            p.join(5)
    while summary is None:  # the queue's feeder may deliver "done" after the processes have exited
        try:
            kind, *payload = messages.get(timeout=5)
        except queue_mod.Empty:
            raise RuntimeError("pre-training ranks exited without a summary") from None
        if kind == "done":
            summary = payload[0]
    return summary


def _rank_main(
    rank: int,
    world: int,
    port: int,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[PackedRow],
    gate_items: list[dict],
    cfg: PretrainConfig,
    out: str,
    messages: Any,
) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    import torch
    from accelerate import Accelerator

    from valuesfirst.train.pretrain import pretrain_rows

    torch.set_num_threads(cfg.threads)
    acc = Accelerator(cpu=True, mixed_precision="bf16" if cfg.bf16 else "no")
    main = acc.is_main_process

    def on_step(step: int, loss: float) -> None:
        messages.put(("step", step, loss))

    def on_probe(step: int, gates: dict) -> None:
        messages.put(("probe", step, gates))

    summary = pretrain_rows(
        tokenizer,
        rows,
        gate_items,
        cfg,
        Path(out),
        on_step if main else None,
        on_probe if main else None,
        accelerator=acc,
    )
    acc.wait_for_everyone()
    if main:
        messages.put(("done", summary))
    acc.end_training()  # destroys the process group
