"""Where a LoRA training step on SmolLM2-135M-Instruct spends its time on CPU, and what each setting buys.

One optimizer step (forward, backward, AdamW on the adapter) of the paper's LoRA (r=64, alpha=128, all
seven projections) on random token rows, timed as the best of 2 after a warm-up step, for: fp32 vs bf16
(frozen base in bf16 + CPU autocast), 1 vs 2 torch threads, rows of 256 vs 512 tokens at the same tokens
per step, and the share of the step spent in the 49,152-way output layer and its loss (measured by running
the same step with the loss taken on the hidden states instead of the logits).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/smollm2_step_profile.py
"""

from __future__ import annotations

import json
import time
from typing import Any

import torch

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _model(bf16: bool) -> Any:
    from peft import LoraConfig, get_peft_model

    from valuesfirst.models.load import load_weights

    model = load_weights("smollm2-135m-instruct", dtype=torch.bfloat16 if bf16 else torch.float32)
    model.config.use_cache = False
    return get_peft_model(model, LoraConfig(r=64, lora_alpha=128, target_modules=TARGETS))


def _step_seconds(model: Any, rows: int, seq: int, bf16: bool, head: bool, repeats: int = 2) -> float:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, 49_000, (rows, seq), generator=torch.Generator().manual_seed(0))
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if head:
                logits = model(input_ids=ids).logits
                loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), ids.flatten())
            else:  # the body only: a loss on the last hidden state, no output layer
                hidden = model.get_base_model().model(input_ids=ids).last_hidden_state  # LoRA layers included
                loss = hidden.float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    return min(times[1:])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2, help="timed steps after the warm-up (best of)")
    repeats = parser.parse_args().repeats
    results = []
    for bf16 in (False, True):
        model = _model(bf16)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for rows, seq in ((8, 256), (4, 512)):
                full = _step_seconds(model, rows, seq, bf16, head=True, repeats=repeats)
                body = _step_seconds(model, rows, seq, bf16, head=False, repeats=repeats)
                r = {
                    "precision": "bf16" if bf16 else "fp32", "threads": threads, "rows": rows, "seq_len": seq,
                    "tokens_per_s": round(rows * seq / full, 1),
                    "output_layer_share": round(1 - body / full, 3),
                }  # fmt: skip
                results.append(r)
                print(json.dumps(r), flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
