"""Benchmark: all-MiniLM-L6-v2 embedding throughput and exact greedy dedup time on CPU.

Short synthetic questions (8-16 words, like AFT queries) are built from templates, with ~10% planted
duplicates (verbatim or one word changed) so the dedup pass has real work. Measures, for each size:
model load (once), embedding texts/s, and the time of the blocked exact dedup alone (embeddings given).
Also times the dedup pass on random unit vectors (nothing dropped: the worst case, the kept set grows to n).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/dedup_minilm.py --sizes 10000 50000
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np  # noqa: E402

SUBJECTS = [
    "cheese",
    "wine",
    "bread",
    "coffee",
    "tea",
    "a bicycle",
    "my garden",
    "a used car",
    "a laptop",
    "my savings",
    "a rental flat",
    "running shoes",
    "a winter coat",
    "olive oil",
    "a sofa",
]
OPENERS = [
    "How should I choose {s} if I care most about {v}?",
    "What is the best way to compare {s} when {v} matters to me?",
    "Is it worth paying more for {s} just for {v}?",
    "Can you explain why people value {v} when buying {s}?",
    "My friend says {v} is overrated for {s}; what do you think?",
]
VALUES = ["thrift", "quality", "local origin", "durability", "tradition", "convenience", "safety", "taste"]
EXTRAS = [
    "",
    " I live in a small town.",
    " I am on a tight budget.",
    " This is for a gift.",
    " Please be brief.",
]


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(n):
        if texts and rng.random() < 0.1:  # planted duplicate of an earlier text, sometimes one word changed
            words = rng.choice(texts).split()
            if rng.random() < 0.5:
                words[rng.randrange(len(words))] = rng.choice(["really", "actually", "truly"])
            texts.append(" ".join(words))
            continue
        subject = " or ".join(rng.sample(SUBJECTS, 2))
        text = rng.choice(OPENERS).format(s=subject, v=rng.choice(VALUES)) + rng.choice(EXTRAS)
        texts.append(f"{text} (case {i})")
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--threshold", type=float, default=0.91)
    args = parser.parse_args()

    import torch

    from valuesfirst.data.dedup import greedy_dedup
    from valuesfirst.data.embed import MiniLMEmbedder

    start = time.perf_counter()
    embedder = MiniLMEmbedder()
    print(f"model load (incl. sentence-transformers import): {time.perf_counter() - start:.1f} s; "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    embedder.encode(make_texts(64, seed=99))  # warm-up
    for n in args.sizes:
        texts = make_texts(n)
        start = time.perf_counter()
        emb = embedder.encode(texts)
        embed_s = time.perf_counter() - start
        start = time.perf_counter()
        result = greedy_dedup(emb, args.threshold)
        dedup_s = time.perf_counter() - start
        rng = np.random.default_rng(0)
        noise = rng.normal(size=emb.shape).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        start = time.perf_counter()
        greedy_dedup(noise, args.threshold)
        worst_s = time.perf_counter() - start
        print(
            f"n={n}: embed {embed_s:.1f} s ({n / embed_s:.0f} texts/s); dedup {dedup_s:.2f} s, "
            f"dropped {len(result.dropped)} ({len(result.dropped) / n:.1%}); "
            f"dedup of random vectors (nothing dropped) {worst_s:.2f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
