"""Benchmark: forced-choice scoring of the value pairs on SmolLM2-135M-Instruct, before and after.

"before" is the scorer as it was when the audit measured it (issue 14: all 2×144 sequences of a batch
normalised over the whole 49k vocabulary at every position, batch 256 by default), kept here verbatim
in ``score_before`` so the comparison stays runnable. "after" is ``models.logprob.score_items`` (log-softmax
only at the option positions, batch size settable, optional KV prefix cache). Each configuration runs in
a fresh subprocess so its peak resident memory (``ru_maxrss``) is its own.

    .venv/bin/python benchmarks/eval_values_smollm2.py [--configs before:16 after:16 after:64 cache:32]
        [--items PATH] [--threads 2]

Prints one JSON line per configuration and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def score_before(model, tokenizer, items, batch_size=256):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
    """The pre-issue-14 scorer (summed log-probabilities; full-vocabulary log-softmax at every position)."""
    import torch

    from valuesfirst.models.logprob import prompt_text

    seqs = []
    for i, item in enumerate(items):
        ctx = tokenizer(prompt_text(tokenizer, item), add_special_tokens=False)["input_ids"]
        for j, option in enumerate(item["options"]):
            cont = tokenizer(f" {option}", add_special_tokens=False)["input_ids"]
            seqs.append((i, j, list(ctx) + list(cont), len(cont)))
    logps = [[math.nan, math.nan] for _ in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.eval()
    order = sorted(range(len(seqs)), key=lambda k: len(seqs[k][2]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = [seqs[k] for k in order[start : start + batch_size]]
            width = max(len(s[2]) for s in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for r, (_, _, toks, _) in enumerate(chunk):
                ids[r, : len(toks)] = torch.tensor(toks)
                mask[r, : len(toks)] = 1
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
            token_lp = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            for r, (i, j, toks, n_cont) in enumerate(chunk):
                end = len(toks) - 1
                logps[i][j] = float(token_lp[r, end - n_cont : end].sum())
    pairs = zip(items, logps, strict=True)
    return [{"success": (0 if a >= b else 1) == it["target"]} for it, (a, b) in pairs]


def run_one(config: str, items_path: str | None, threads: int) -> dict:
    """One configuration, in this process: load, score, report seconds and the outcome."""
    import torch

    from valuesfirst.evals.logprob_cli import local_path, value_items
    from valuesfirst.models.load import load_model
    from valuesfirst.models.logprob import score_items

    torch.set_num_threads(threads)
    items = value_items(Path(items_path) if items_path else None)
    model, tok = load_model(local_path("smollm2-135m-instruct"))
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kind, batch = config.split(":")
    t0 = time.perf_counter()
    if kind == "before":
        rows = score_before(model, tok, items, int(batch))
        rate = sum(r["success"] for r in rows) / len(rows)
    else:
        rows = score_items(model, tok, items, batch_size=int(batch), normalize="sum",
                           prefix_cache=kind == "cache")  # fmt: skip
        rate = sum(0.5 if r["tie"] else float(r["success"]) for r in rows) / len(rows)
    seconds = time.perf_counter() - t0
    return {
        "config": config,
        "items": len(items),
        "seconds": round(seconds, 2),
        "items_per_s": round(len(items) / seconds, 2),
        "rss_after_load_mb": round(loaded_rss),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "sum_rate": round(rate, 4),  # the same scores in every configuration: only cost may differ
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["before:16", "after:16", "after:64", "cache:32"])
    ap.add_argument("--items", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.items, args.threads)))
        return
    results = []
    for config in args.configs:
        cmd = [sys.executable, __file__, "--one", config, "--threads", str(args.threads)]
        cmd += ["--items", args.items] if args.items else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(row)
        print(json.dumps(row), flush=True)
    print("\n| config | items/s | seconds | peak RSS (MB) | RSS after load (MB) | sum rate |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['config']} | {r['items_per_s']} | {r['seconds']} | {r['peak_rss_mb']} | "
              f"{r['rss_after_load_mb']} | {r['sum_rate']} |")  # fmt: skip


if __name__ == "__main__":
    main()
