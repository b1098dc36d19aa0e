"""Statistics for forced-choice evaluations: Wilson intervals, SEM over seeds, paired bootstrap.

Two sources of uncertainty matter in these experiments and are reported separately:

* **pair sampling** - the evaluation pairs are a finite sample of the held-out domains. The Wilson
  interval of a rate (with n = number of pairs) and the pair-resampling part of the bootstrap capture it.
* **training-seed variation** - each condition is trained several times with different seeds. The SEM
  over per-seed rates captures it; it says nothing about the pair sample, which every seed shares.

Per-condition data arrive as ``per_seed: dict[int, list[float]]``: for each training seed, one score in
[0, 1] per evaluation pair, pairs in the same order for every seed (and for every condition).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from valuesfirst.binomial import Z_95, wilson_from_counts, wilson_interval  # noqa: F401 (re-exported)

PerSeed = Mapping[int, Sequence[float]]


def sem(values: Sequence[float]) -> float | None:
    """Standard error of the mean: sample std (ddof=1) / sqrt(n); ``None`` when n < 2."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"sem: expected a flat sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("sem: values contain NaN or infinity")
    if arr.size < 2:
        return None
    return float(arr.std(ddof=1) / math.sqrt(arr.size))


def _as_matrix(per_seed: PerSeed, what: str) -> tuple[list[int], np.ndarray]:
    """Validate per-seed scores and stack them into a (n_seeds, n_pairs) array, seeds sorted."""
    if not per_seed:
        raise ValueError(f"{what}: no seeds")
    seeds = sorted(per_seed)
    lengths = {seed: len(per_seed[seed]) for seed in seeds}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{what}: seeds have different pair counts: {lengths}")
    n_pairs = lengths[seeds[0]]
    if n_pairs == 0:
        raise ValueError(f"{what}: seeds have no pairs")
    matrix = np.asarray([list(per_seed[seed]) for seed in seeds], dtype=float)
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{what}: scores contain NaN or infinity")
    if matrix.min() < 0.0 or matrix.max() > 1.0:
        raise ValueError(f"{what}: scores must lie in [0, 1], got range [{matrix.min()}, {matrix.max()}]")
    return seeds, matrix


def summarize_condition(per_seed: PerSeed, per_seed_soft: PerSeed | None = None) -> dict[str, Any]:
    """Summarize one condition's per-seed, per-pair scores.

    Returns a dict with exactly these keys:

    * ``rate``: mean over seeds of the per-seed mean score.
    * ``sem``: SEM over the per-seed rates (training-seed variation); ``None`` with one seed.
    * ``ci``: ``[lo, hi]`` 95% Wilson interval of ``rate`` with n = ``n_pairs`` (pair-sampling
      variation only; it ignores seed variation, which ``sem`` reports).
    * ``n_seeds``, ``n_pairs``.
    * ``per_seed``: ``{seed: rate}``.
    * ``soft``: mean over seeds of the mean soft score, or ``None`` without ``per_seed_soft``.

    Raises ``ValueError`` if seeds have different pair counts, scores leave [0, 1], or the soft scores
    do not have the same seeds and pair count as the hard ones.
    """
    seeds, matrix = _as_matrix(per_seed, "summarize_condition")
    seed_rates = matrix.mean(axis=1)
    rate = float(seed_rates.mean())
    n_pairs = int(matrix.shape[1])
    lo, hi = wilson_interval(min(1.0, max(0.0, rate)), n_pairs)
    soft: float | None = None
    if per_seed_soft is not None:
        soft_seeds, soft_matrix = _as_matrix(per_seed_soft, "summarize_condition (soft)")
        if soft_seeds != seeds or soft_matrix.shape != matrix.shape:
            raise ValueError(
                "summarize_condition: soft scores must have the same seeds and pair count as the hard "
                f"scores (hard: seeds {seeds}, {n_pairs} pairs; soft: seeds {soft_seeds}, "
                f"{soft_matrix.shape[1]} pairs)"
            )
        soft = float(soft_matrix.mean(axis=1).mean())
    return {
        "rate": rate,
        "sem": sem(seed_rates.tolist()),
        "ci": [lo, hi],
        "n_seeds": len(seeds),
        "n_pairs": n_pairs,
        "per_seed": {seed: float(r) for seed, r in zip(seeds, seed_rates, strict=True)},
        "soft": soft,
    }


def _seed_weights(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n) resampling weights summing to 1: a with-replacement draw of n items, as counts / n."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot) / n


def t_half_width(values: Sequence[float]) -> float | None:
    """Half-width of the 95% Student-t interval of the mean (t with n - 1 degrees of freedom, not z: at
    n = 4 the t quantile is 3.18, and a z interval would be 38% too narrow); ``None`` when n < 2."""
    from scipy.stats import t

    s = sem(values)
    return None if s is None else float(t.ppf(0.975, len(values) - 1)) * s


def paired_bootstrap_diff(
    a: PerSeed, b: PerSeed, n_boot: int = 2000, seed: int = 0
) -> dict[str, float]:
    """Bootstrap the difference of mean rates ``rate(a) - rate(b)``.

    Each replicate resamples the evaluation pairs with replacement (the *same* pair indices for both
    conditions, because they share the pair set) and then the training seeds: seeds that both
    conditions have are resampled together (paired), seeds that only one has are resampled within that
    condition. The rate of a condition in a replicate is the mean over its resampled seeds of the mean
    over the resampled pairs, matching ``summarize_condition``'s ``rate``.

    Returns ``mean`` (the observed difference), ``ci_low``/``ci_high`` (95% percentile interval),
    ``p_two_sided`` and ``p_min``. ``p_two_sided`` is twice the share of replicates on the other side of 0
    from ``mean`` (replicates exactly at 0 count against the effect, the conservative choice for discrete
    scores), counted as ``(k + 1) / (n_boot + 1)`` and capped at 1: a finite bootstrap cannot show
    p = 0, only that p is below its resolution, ``p_min = 2 / (n_boot + 1)`` (0.001 for 2000 draws);
    report ``p <= p_min`` when they are equal. An observed difference of exactly 0 gives p = 1.
    """
    if n_boot < 1:
        raise ValueError(f"paired_bootstrap_diff: n_boot must be >= 1, got {n_boot}")
    seeds_a, mat_a = _as_matrix(a, "paired_bootstrap_diff (a)")
    seeds_b, mat_b = _as_matrix(b, "paired_bootstrap_diff (b)")
    if mat_a.shape[1] != mat_b.shape[1]:
        raise ValueError(
            f"paired_bootstrap_diff: a has {mat_a.shape[1]} pairs, b has {mat_b.shape[1]}; "
            "paired resampling needs the same pair set"
        )
    n_pairs = mat_a.shape[1]
    rng = np.random.default_rng(seed)
    pair_w = _seed_weights(rng, n_pairs, n_boot)  # (n_boot, n_pairs)
    # Per-replicate, per-seed rates under the resampled pairs.
    rates_a = pair_w @ mat_a.T  # (n_boot, n_seeds_a)
    rates_b = pair_w @ mat_b.T

    shared = sorted(set(seeds_a) & set(seeds_b))
    only_a = [s for s in seeds_a if s not in shared]
    only_b = [s for s in seeds_b if s not in shared]
    idx_a = {s: i for i, s in enumerate(seeds_a)}
    idx_b = {s: i for i, s in enumerate(seeds_b)}

    # Seed weights: the shared block is drawn once and used for both conditions (pairing); each
    # condition's own seeds are drawn separately. Blocks are weighted by their size so that a
    # replicate's rate is a mean over all of that condition's resampled seeds.
    w_a = np.zeros((n_boot, len(seeds_a)))
    w_b = np.zeros((n_boot, len(seeds_b)))
    if shared:
        w_shared = _seed_weights(rng, len(shared), n_boot)
        for j, s in enumerate(shared):
            w_a[:, idx_a[s]] = w_shared[:, j] * len(shared) / len(seeds_a)
            w_b[:, idx_b[s]] = w_shared[:, j] * len(shared) / len(seeds_b)
    if only_a:
        w_only = _seed_weights(rng, len(only_a), n_boot)
        for j, s in enumerate(only_a):
            w_a[:, idx_a[s]] = w_only[:, j] * len(only_a) / len(seeds_a)
    if only_b:
        w_only = _seed_weights(rng, len(only_b), n_boot)
        for j, s in enumerate(only_b):
            w_b[:, idx_b[s]] = w_only[:, j] * len(only_b) / len(seeds_b)

    diffs = (rates_a * w_a).sum(axis=1) - (rates_b * w_b).sum(axis=1)
    observed = float(mat_a.mean(axis=1).mean() - mat_b.mean(axis=1).mean())
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    if observed > 0:
        p = 2.0 * (int(np.sum(diffs <= 0)) + 1) / (n_boot + 1)
    elif observed < 0:
        p = 2.0 * (int(np.sum(diffs >= 0)) + 1) / (n_boot + 1)
    else:
        p = 1.0
    return {
        "mean": observed,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p_two_sided": min(1.0, p),
        "p_min": min(1.0, 2.0 / (n_boot + 1)),
    }
