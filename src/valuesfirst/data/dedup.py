"""Near-duplicate removal by exact cosine similarity of sentence embeddings.

The rule is greedy and order-stable: texts are visited in input order, and a text is **dropped if its
cosine similarity with any earlier KEPT text is strictly greater than** ``threshold``; otherwise it is kept.
Comparing only against kept texts (not against earlier dropped ones) is what makes the result depend on
nothing but the input order: a chain a~b~c where a and c are not similar keeps a and c. The first occurrence
of a duplicate group always wins.

Why not FAISS top-k (the MSM reference code: ``IndexFlatIP``, k=10): a top-k query misses a duplicate
when more than k near-identical texts exist, and it pulls in a native dependency. Here similarities are
computed exactly, in blocks (a block of new texts against the kept set, in chunks), so memory stays bounded
(~block_size x kept_chunk floats). On 2 CPU cores, 50k texts took 3.8 s after embedding, 12.6 s in the worst
case where nothing is dropped (O(n^2): ~50 s at 10^5); embedding itself is ~100x slower (see
benchmarks/dedup_minilm.md).

Cosines are computed and compared in float32 (the threshold is cast to float32 too, so a cosine equal to
the threshold is not "greater"); values are clipped to [-1, 1] so identical texts score exactly 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from valuesfirst.data.embed import Embedder, embed_normalized

__all__ = ["DedupResult", "greedy_dedup", "near_duplicates"]

DEFAULT_THRESHOLD = 0.91
"""The MSM reference code's threshold for AFT queries with all-MiniLM-L6-v2."""


@dataclass(frozen=True)
class DedupResult:
    """Outcome of :func:`near_duplicates`.

    keep: indices of kept texts, ascending (original order preserved).
    dropped: ``(index, duplicate_of, cosine)`` per dropped text, ascending by index; ``duplicate_of`` is the
        earlier kept text it is most similar to, ``cosine`` their similarity (> threshold).
    """

    keep: list[int] = field(default_factory=list)
    dropped: list[tuple[int, int, float]] = field(default_factory=list)

    def summary(self) -> dict[str, int | float]:
        n = len(self.keep) + len(self.dropped)
        return {
            "n": n,
            "kept": len(self.keep),
            "dropped": len(self.dropped),
            "dropped_rate": len(self.dropped) / n if n else 0.0,
        }


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    embedder: Embedder | None = None,
    block_size: int = 1024,
) -> DedupResult:
    """Greedy near-duplicate removal over ``texts`` (see the module docstring for the rule).

    threshold: cosine above which a text duplicates an earlier kept one (default 0.91, in [-1, 1]; 1.0
        drops nothing, since cosines are clipped to 1).
    embedder: object with ``encode(list[str]) -> np.ndarray`` of L2-normalized rows; default (None) is
        all-MiniLM-L6-v2 loaded offline once per process.
    block_size: texts compared per step (default 1024); changes speed and memory, never the result.
    """
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [-1, 1], got {threshold!r}")
    if len(texts) == 0:
        return DedupResult()
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    emb = embed_normalized(texts, embedder)
    return greedy_dedup(emb, threshold, block_size=block_size)


def _best_kept_before(block: np.ndarray, kept: np.ndarray, kept_chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``block``: the highest cosine with any row of ``kept`` and that row's position."""
    b = block.shape[0]
    best = np.full(b, -np.inf, dtype=np.float32)
    arg = np.full(b, -1, dtype=np.int64)
    rows = np.arange(b)
    for c0 in range(0, kept.shape[0], kept_chunk):
        sims = block @ kept[c0 : c0 + kept_chunk].T
        a = sims.argmax(axis=1)
        v = sims[rows, a]
        better = v > best
        best[better] = v[better]
        arg[better] = a[better] + c0
    return np.minimum(best, np.float32(1.0)), arg


def greedy_dedup(
    emb: np.ndarray, threshold: float, *, block_size: int = 1024, kept_chunk: int = 8192
) -> DedupResult:
    """The greedy rule on precomputed unit-length rows ``emb`` (n, dim); see :func:`near_duplicates`."""
    if block_size < 1 or kept_chunk < 1:
        raise ValueError("block_size and kept_chunk must be >= 1")
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    n, dim = emb.shape
    t = np.float32(threshold)
    kept_rows = np.empty((n, dim), dtype=np.float32)  # kept embeddings, packed at the front
    kept_ids = np.empty(n, dtype=np.int64)
    k = 0
    keep: list[int] = []
    dropped: list[tuple[int, int, float]] = []
    for start in range(0, n, block_size):
        block = emb[start : start + block_size]
        b = block.shape[0]
        prev_best, prev_arg = _best_kept_before(block, kept_rows[:k], kept_chunk)
        drop = prev_best > t
        inner = np.minimum(block @ block.T, np.float32(1.0))
        earlier = np.tril(np.ones((b, b), dtype=bool), k=-1)  # [j, i] true where i < j
        close = earlier & (inner > t)
        # A text with no close earlier text in the block is decided by prev_best alone; only the rest
        # need the sequential pass, in ascending order so every earlier decision is final when used.
        kept_here = ~drop
        for q in np.flatnonzero(close.any(axis=1) & ~drop):
            if (close[q] & kept_here).any():
                kept_here[q] = False
        inner_kept = np.where(earlier & kept_here[None, :], inner, -np.inf)
        in_arg = inner_kept.argmax(axis=1)
        in_best = inner_kept[np.arange(b), in_arg]
        for j in range(b):
            index = start + j
            if kept_here[j]:
                keep.append(index)
                continue
            if prev_best[j] >= in_best[j]:
                dropped.append((index, int(kept_ids[prev_arg[j]]), float(prev_best[j])))
            else:
                dropped.append((index, start + int(in_arg[j]), float(in_best[j])))
        new = np.flatnonzero(kept_here)
        kept_rows[k : k + new.size] = block[new]
        kept_ids[k : k + new.size] = start + new
        k += new.size
    return DedupResult(keep=keep, dropped=dropped)
