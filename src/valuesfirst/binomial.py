"""Binomial confidence intervals (Wilson), shared by the data passes and the evaluation statistics."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def wilson_interval(p_hat: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p_hat`` observed on ``n`` trials.

    ``p_hat`` may be fractional (e.g. a mean of per-pair scores that are themselves averages over
    presentation orders); the formula is applied as if it were ``k / n``. ``n == 0`` carries no
    information and returns ``(0.0, 1.0)``.
    """
    if not 0.0 <= p_hat <= 1.0 or math.isnan(p_hat):
        raise ValueError(f"wilson_interval: p_hat must be in [0, 1], got {p_hat!r}")
    if n < 0:
        raise ValueError(f"wilson_interval: n must be >= 0, got {n!r}")
    if n == 0:
        return (0.0, 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p_hat + z2 / (2 * n)) / denom
    half = z * math.sqrt(p_hat * (1.0 - p_hat) / n + z2 / (4 * n * n)) / denom
    lo, hi = centre - half, centre + half
    # At p_hat = 0 or 1 the bound is exactly 0 or 1; set it so round-off cannot leave 0.9999999999999999.
    if p_hat == 0.0:
        lo = 0.0
    if p_hat == 1.0:
        hi = 1.0
    # Clamp only float round-off; the Wilson interval never leaves [0, 1] mathematically.
    return (max(0.0, lo), min(1.0, hi))


def wilson_from_counts(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"wilson_from_counts: need 0 <= k <= n, got k={k!r}, n={n!r}")
    if n == 0:
        return (0.0, 1.0)
    return wilson_interval(k / n, n, z)
