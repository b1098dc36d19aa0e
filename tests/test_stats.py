"""Tests for valuesfirst.evals.stats: Wilson intervals, SEM, condition summaries, paired bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from valuesfirst.evals.stats import (
    paired_bootstrap_diff,
    sem,
    summarize_condition,
    wilson_from_counts,
    wilson_interval,
)

# ---------------------------------------------------------------------------------------------------
# Wilson
# ---------------------------------------------------------------------------------------------------


def test_wilson_half_of_hundred_matches_hand_computation() -> None:
    # z^2 = 3.8415; centre = 0.5; half-width = 1.96 * sqrt(0.0025 + 0.000096) / 1.038415 = 0.09617.
    lo, hi = wilson_interval(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4)
    assert hi == pytest.approx(0.5962, abs=1e-4)


def test_wilson_published_values() -> None:
    # 8/10: the textbook Wilson interval (0.490, 0.943); 0/10: upper bound z^2/(n+z^2) = 0.2775.
    lo, hi = wilson_from_counts(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    lo, hi = wilson_from_counts(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_from_counts(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4)
    assert hi == 1.0


def test_wilson_fractional_p_and_edge_cases() -> None:
    assert wilson_interval(0.3, 0) == (0.0, 1.0)
    assert wilson_from_counts(0, 0) == (0.0, 1.0)
    # A fractional p_hat is treated like k/n and lies inside its interval.
    lo, hi = wilson_interval(0.625, 7)
    assert 0.0 < lo < 0.625 < hi < 1.0
    assert wilson_interval(0.3, 50) == wilson_from_counts(15, 50)
    # Narrower with more data.
    assert (wilson_interval(0.3, 500)[1] - wilson_interval(0.3, 500)[0]) < (hi - lo)
    with pytest.raises(ValueError):
        wilson_interval(1.2, 10)
    with pytest.raises(ValueError):
        wilson_interval(float("nan"), 10)
    with pytest.raises(ValueError):
        wilson_from_counts(11, 10)


# ---------------------------------------------------------------------------------------------------
# SEM
# ---------------------------------------------------------------------------------------------------


def test_sem_values() -> None:
    # std(ddof=1) of 1..4 = sqrt(5/3) = 1.29099; / sqrt(4) = 0.645497.
    assert sem([1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.645497, abs=1e-6)
    assert sem([0.5, 0.5, 0.5]) == 0.0
    assert sem([0.7]) is None
    assert sem([]) is None
    with pytest.raises(ValueError):
        sem([0.1, float("nan")])


# ---------------------------------------------------------------------------------------------------
# summarize_condition
# ---------------------------------------------------------------------------------------------------


def test_summarize_condition_on_synthetic_data() -> None:
    per_seed = {0: [1.0, 0.0, 1.0, 1.0], 1: [0.0, 0.0, 1.0, 1.0]}
    soft = {0: [0.9, 0.2, 0.8, 0.7], 1: [0.1, 0.3, 0.6, 0.6]}
    s = summarize_condition(per_seed, soft)
    assert set(s) == {"rate", "sem", "ci", "n_seeds", "n_pairs", "per_seed", "soft"}
    assert s["rate"] == pytest.approx(0.625)
    # per-seed rates 0.75 and 0.5: std(ddof=1) = 0.17678; / sqrt(2) = 0.125.
    assert s["sem"] == pytest.approx(0.125)
    assert s["ci"] == pytest.approx(list(wilson_interval(0.625, 4)))
    assert s["n_seeds"] == 2
    assert s["n_pairs"] == 4
    assert s["per_seed"] == {0: pytest.approx(0.75), 1: pytest.approx(0.5)}
    assert s["soft"] == pytest.approx((0.65 + 0.4) / 2)


def test_summarize_single_seed_and_half_scores() -> None:
    s = summarize_condition({7: [0.5, 1.0, 0.5, 0.0]})
    assert s["rate"] == pytest.approx(0.5)
    assert s["sem"] is None
    assert s["soft"] is None
    assert s["per_seed"] == {7: pytest.approx(0.5)}


def test_summarize_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="different pair counts"):
        summarize_condition({0: [1.0, 0.0], 1: [1.0]})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        summarize_condition({0: [1.0, 1.5]})
    with pytest.raises(ValueError, match="no seeds"):
        summarize_condition({})
    with pytest.raises(ValueError, match="same seeds"):
        summarize_condition({0: [1.0, 0.0]}, {1: [0.5, 0.5]})
    with pytest.raises(ValueError, match="NaN"):
        summarize_condition({0: [1.0, float("nan")]})


# ---------------------------------------------------------------------------------------------------
# paired bootstrap
# ---------------------------------------------------------------------------------------------------


def _synthetic(p: float, n_pairs: int, seeds: list[int], rng: np.random.Generator) -> dict[int, list[float]]:
    """Per-pair scores in {0, 0.5, 1} (two presentations each) with a small per-seed shift."""
    out = {}
    for s in seeds:
        shift = rng.normal(0, 0.02)
        draws = rng.random((n_pairs, 2)) < min(1.0, max(0.0, p + shift))
        out[s] = draws.mean(axis=1).tolist()
    return out


def test_bootstrap_ci_contains_true_difference_and_p_small() -> None:
    rng = np.random.default_rng(1)
    a = _synthetic(0.7, 300, [0, 1, 2, 3, 4], rng)
    b = _synthetic(0.5, 300, [0, 1, 2, 3, 4], rng)
    r = paired_bootstrap_diff(a, b, n_boot=2000, seed=0)
    assert set(r) == {"mean", "ci_low", "ci_high", "p_two_sided", "p_min"}
    assert r["ci_low"] < 0.2 < r["ci_high"]
    assert r["ci_low"] > 0.1  # a real effect of 0.2 is clearly separated from 0
    assert r["p_two_sided"] < 0.01
    observed = np.mean([np.mean(v) for v in a.values()]) - np.mean([np.mean(v) for v in b.values()])
    assert r["mean"] == pytest.approx(observed)
    # Reversing the arguments mirrors the interval; the same seed reproduces it exactly.
    rev = paired_bootstrap_diff(b, a, n_boot=2000, seed=0)
    assert rev["mean"] == pytest.approx(-r["mean"])
    assert rev["p_two_sided"] < 0.01
    assert paired_bootstrap_diff(a, b, n_boot=2000, seed=0) == r


def test_bootstrap_no_effect_gives_large_p() -> None:
    rng = np.random.default_rng(2)
    a = _synthetic(0.6, 200, [0, 1, 2], rng)
    b = _synthetic(0.6, 200, [0, 1, 2], rng)
    r = paired_bootstrap_diff(a, b, n_boot=2000, seed=0)
    assert r["ci_low"] < 0.0 < r["ci_high"]
    assert r["p_two_sided"] > 0.05
    identical = paired_bootstrap_diff(a, a, n_boot=200, seed=0)
    assert identical["mean"] == 0.0
    assert identical["p_two_sided"] == 1.0


def test_bootstrap_pairs_the_pairs() -> None:
    # Pair difficulty dominates the variance; b equals a except 10 of 200 pairs flipped 1 -> 0. Only a
    # bootstrap that resamples the same pair indices for both sees the 0.05 difference as clear.
    rng = np.random.default_rng(3)
    base = (rng.random(200) < 0.5).astype(float)
    ones = np.flatnonzero(base == 1.0)[:10]
    flipped = base.copy()
    flipped[ones] = 0.0
    r = paired_bootstrap_diff({0: base.tolist()}, {0: flipped.tolist()}, n_boot=2000, seed=0)
    assert r["mean"] == pytest.approx(0.05)
    assert r["ci_low"] > 0.0
    assert r["ci_high"] - r["ci_low"] < 0.1  # an unpaired bootstrap would give width ~0.2


def test_bootstrap_with_disjoint_seeds_and_seed_variation() -> None:
    # Seed-to-seed variation is large here, so the interval must be wider than pair sampling alone.
    a = {0: [0.9] * 50, 1: [0.5] * 50, 2: [0.7] * 50}
    b = {5: [0.4] * 50, 6: [0.6] * 50}
    r = paired_bootstrap_diff(a, b, n_boot=2000, seed=0)
    assert r["mean"] == pytest.approx(0.2)
    assert r["ci_high"] - r["ci_low"] > 0.2
    with pytest.raises(ValueError, match="same pair set"):
        paired_bootstrap_diff({0: [1.0, 0.0]}, {0: [1.0]})
    with pytest.raises(ValueError, match="n_boot"):
        paired_bootstrap_diff(a, b, n_boot=0)
    assert math.isfinite(r["p_two_sided"])


def test_bootstrap_p_is_never_zero_but_its_resolution() -> None:
    a = {0: [1.0] * 50}
    b = {0: [0.0] * 50}
    r = paired_bootstrap_diff(a, b, n_boot=2000, seed=0)  # every replicate favours a
    assert r["p_two_sided"] == r["p_min"] == pytest.approx(2 / 2001)
    assert paired_bootstrap_diff(a, b, n_boot=99, seed=0)["p_two_sided"] == pytest.approx(0.02)


def test_t_interval_is_wider_than_z_at_small_n() -> None:
    from valuesfirst.evals.stats import t_half_width

    values = [4.0, 6.0, 5.0, 7.0]
    half = t_half_width(values)
    assert half is not None and half == pytest.approx(3.182 * np.std(values, ddof=1) / 2, rel=1e-3)
    assert t_half_width([1.0]) is None
