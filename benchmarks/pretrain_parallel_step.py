"""Benchmark: one pre-training step of the demo's tiny model, 1 process x 1 or 2 threads (32 rows) against 2
DDP ranks x 1 thread (16 rows each, gloo), fp32 and bf16 autocast (see demo_timing.md).

Usage: python benchmarks/pretrain_parallel_step.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from cpu_tiny_model_step import _step  # noqa: E402 - the same step, next to this script

from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model  # noqa: E402
from valuesfirst.train.loop import OptimConfig, make_optimizer  # noqa: E402
from valuesfirst.world.tokenizer import train_word_tokenizer  # noqa: E402

STEPS = 20
SEQ = 128


def _setup(batch: int, threads: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.set_num_threads(threads)
    tok = train_word_tokenizer([" ".join(f"w{i}" for i in range(1000))])
    model = build_tiny_model(TinyModelConfig(), tok, 0)
    ids = torch.randint(4, len(tok), (batch, SEQ))
    pos = torch.arange(SEQ).remainder(32).repeat(batch, 1)  # four packed documents per row
    return model, ids, pos


def _timed(model: torch.nn.Module, ids: torch.Tensor, pos: torch.Tensor, bf16: bool, sync: bool) -> float:
    opt = make_optimizer(model, OptimConfig())
    _step(model, opt, ids, pos, bf16)  # warm-up
    if sync:
        dist.barrier()
    t = time.perf_counter()
    for _ in range(STEPS):
        _step(model, opt, ids, pos, bf16)
    if sync:
        dist.barrier()
    return (time.perf_counter() - t) / STEPS * 1000


def single(threads: int, bf16: bool) -> None:
    model, ids, pos = _setup(32, threads)
    print(f"1 process x {threads} thread(s), bf16={bf16}: {_timed(model, ids, pos, bf16, False):.0f} ms/step")


def rank(r: int, bf16: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    dist.init_process_group("gloo", rank=r, world_size=2)
    model, ids, pos = _setup(16, 1)
    ms = _timed(torch.nn.parallel.DistributedDataParallel(model), ids, pos, bf16, True)
    if r == 0:
        print(f"2 DDP ranks x 1 thread, bf16={bf16}: {ms:.0f} ms/step", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    for use_bf16 in (False, True):
        single(1, use_bf16)
        single(2, use_bf16)
        mp.spawn(rank, args=(use_bf16,), nprocs=2)
