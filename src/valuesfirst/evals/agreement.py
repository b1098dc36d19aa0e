"""Agreement between two judges: Cohen's kappa over the items both judges scored.

Items either judge excluded are left out of kappa and counted, so a judge that fails often cannot look
agreeable by failing on the hard cases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal


def cohen_kappa(
    a: Sequence[float], b: Sequence[float], weights: Literal[None, "quadratic"] = None
) -> float | None:
    """Cohen's kappa of two raters' labels (same items, same order).

    ``weights=None``: nominal kappa. ``"quadratic"``: weighted kappa for ordinal scales (e.g. 1–10
    rubric scores), where near-misses count as partial agreement. Returns ``None`` when undefined (no
    items, or both raters constant on the same label, so chance agreement is 1); ``1.0`` for perfect
    agreement otherwise.
    """
    if len(a) != len(b):
        raise ValueError(f"cohen_kappa: {len(a)} labels vs {len(b)}")
    n = len(a)
    if n == 0:
        return None
    labels = sorted(set(a) | set(b))
    if len(labels) == 1:
        return None
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)

    def w(i: int, j: int) -> float:  # disagreement weight
        if weights is None:
            return 0.0 if i == j else 1.0
        return ((labels[i] - labels[j]) / (labels[-1] - labels[0])) ** 2

    observed = Counter((index[x], index[y]) for x, y in zip(a, b, strict=True))
    ca, cb = Counter(index[x] for x in a), Counter(index[y] for y in b)
    d_obs = sum(w(i, j) * c for (i, j), c in observed.items()) / n
    d_exp = sum(w(i, j) * ca[i] * cb[j] for i in range(k) for j in range(k)) / (n * n)
    if d_exp == 0:
        return None
    return 1.0 - d_obs / d_exp


def judge_agreement(
    first: Sequence[float | None], second: Sequence[float | None], ordinal: bool = False
) -> dict[str, Any]:
    """Kappa and raw agreement of two judges over the same items; ``None`` marks an excluded verdict."""
    if len(first) != len(second):
        raise ValueError(f"judge_agreement: {len(first)} verdicts vs {len(second)}")
    pairs = [(x, y) for x, y in zip(first, second, strict=True) if x is not None and y is not None]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    return {
        "n_both": len(pairs),
        "n_excluded_either": len(first) - len(pairs),
        "percent_agreement": (sum(x == y for x, y in pairs) / len(pairs)) if pairs else None,
        "kappa": cohen_kappa(xs, ys, "quadratic" if ordinal else None),
        "kappa_kind": "quadratic-weighted" if ordinal else "nominal",
    }
