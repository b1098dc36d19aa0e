"""Benchmark: one training step of the demo's tiny model on CPU, by attention kernel, precision and width.

Usage: python benchmarks/cpu_tiny_model_step.py [THREADS] [BATCH]   (results: cpu_tiny_model_step.md)
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model  # noqa: E402
from valuesfirst.train.collate import loss_from_logits  # noqa: E402
from valuesfirst.train.loop import OptimConfig, make_optimizer  # noqa: E402
from valuesfirst.world.tokenizer import train_word_tokenizer  # noqa: E402


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor, pos: torch.Tensor,
          bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, position_ids=pos, use_cache=False).logits
    loss_sum, n = loss_from_logits(logits.float(), ids)
    (loss_sum / n).backward()
    opt.step()
    opt.zero_grad()


def main(threads: int = 2, batch: int = 32, seq_len: int = 128) -> None:
    torch.set_num_threads(threads)
    tok = train_word_tokenizer([" ".join(f"w{i}" for i in range(1000))])
    for attn in ("sdpa", "eager"):
        for bf16 in (False, True):
            for hidden, inter in ((128, 320), (96, 256)):
                cfg = TinyModelConfig(attn_implementation=attn, hidden_size=hidden, intermediate_size=inter)
                model = build_tiny_model(cfg, tok, 0)
                ids = torch.randint(4, len(tok), (batch, seq_len))
                pos = torch.arange(seq_len).remainder(32).repeat(batch, 1)  # four packed documents per row
                opt = make_optimizer(model, OptimConfig())

                _step(model, opt, ids, pos, bf16)
                t = time.perf_counter()
                for _ in range(5):
                    _step(model, opt, ids, pos, bf16)
                dt = (time.perf_counter() - t) / 5
                precision = "bf16" if bf16 else "fp32"
                tps = batch * seq_len / dt
                print(f"{attn:5s} {precision} {hidden:4d} {dt * 1000:6.0f} ms/step {tps:8.0f} tok/s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
