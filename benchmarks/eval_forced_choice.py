"""Benchmark: log-probability forced choice vs generate-and-parse, same pairs, same local model.

Both paths score the shipped value-generalization set (144 items = 72 pairs x 2 orders) on one model
built from config (the demo's 0.85M-parameter llama shape, word-level tokenizer trained in-process; no
download). Log-prob scoring runs two batched forward passes' worth of sequences; generate-and-parse runs
one ``generate`` per item through the local backend (greedy, ``--gen-tokens`` new tokens, the budget a
tagged ``<answer>A</answer>`` needs) and parses the answer strictly.

    .venv/bin/python benchmarks/eval_forced_choice.py [--gen-tokens 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from valuesfirst.evals import values  # noqa: E402
from valuesfirst.evals.logprob_cli import value_items  # noqa: E402
from valuesfirst.evals.runner import GenerationConfig, generate  # noqa: E402
from valuesfirst.evals.scoring import summarize  # noqa: E402
from valuesfirst.llm.client import ClientConfig, LLMClient  # noqa: E402
from valuesfirst.llm.local_hf import LocalHFBackend  # noqa: E402
from valuesfirst.models.load import load_model, save_model  # noqa: E402
from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model  # noqa: E402
from valuesfirst.world.tokenizer import train_word_tokenizer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen-tokens", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    items = value_items(None)
    texts = [json.dumps(i) for i in items] + ["<answer> A B </answer>"]
    tok = train_word_tokenizer(texts)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        save_model(build_tiny_model(TinyModelConfig(), tok, seed=0), tok, path)
        model, tokenizer = load_model(path)

        logprob_s = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rows = values.score_local(model, tokenizer, items)
            logprob_s.append(time.perf_counter() - t0)
        lp_summary = summarize(rows, values.METRIC)["model"]

        gen_s = []
        backend = LocalHFBackend(path)
        for _ in range(args.repeats):
            client = LLMClient(backend, ClientConfig(concurrency=1))
            gen = GenerationConfig(temperature=0.0, max_tokens=args.gen_tokens)
            t0 = time.perf_counter()
            transcripts = asyncio.run(generate(client, values.served_items(items), gen, "values"))
            grows, _ = asyncio.run(values.score_served(transcripts))
            gen_s.append(time.perf_counter() - t0)
        gen_summary = summarize(grows, values.METRIC)["model"]

    best_lp, best_gen = min(logprob_s), min(gen_s)
    result = {
        "items": len(items),
        "logprob_s": logprob_s,
        "generate_parse_s": gen_s,
        "logprob_items_per_s": len(items) / best_lp,
        "generate_items_per_s": len(items) / best_gen,
        "speedup": best_gen / best_lp,
        "logprob_scored": lp_summary["n_scored"],
        "generate_scored": gen_summary["n_scored"],
        "generate_excluded": gen_summary["excluded_by_reason"],
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
