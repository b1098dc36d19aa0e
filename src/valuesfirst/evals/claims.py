"""Claims: declarative statements about condition rates, checked against the evaluation results.

Claims live in the experiment config, so the same machinery serves any experiment. Three kinds:

* ``gap``: condition ``a``'s rate exceeds (``sign: 1``) or falls below (``sign: -1``) condition ``b``'s.
* ``all_gaps``: every listed gap holds (e.g. stacking: ``msm_a_aft`` beats ``msm_a`` *and* ``aft``).
* ``attribution``: ``full`` differs from ``reference`` clearly, and the ``ablated`` variant keeps less
  than ``max_retained`` of that effect ("the ablation loses most of the effect").

**The test.** A gap holds iff ``sign * (rate_a - rate_b) > min_sem_ratio * pooled_sem`` where
``pooled_sem = sqrt(sem_a**2 + sem_b**2)`` is the standard error of the difference of two independent
means, each SEM taken over training seeds. This is the conservative reading:

* it treats the two conditions' seeds as independent even where they share seed numbers; any positive
  correlation between same-seed runs would make the true SE of the difference smaller, never larger;
* it uses seed variation only. Pair-sampling uncertainty is reported alongside (the paired bootstrap CI)
  but does not enter the verdict, because every condition is scored on the same pairs.

Verdicts are three-valued: ``True`` (holds), ``False`` (fails), ``None`` (not testable). A gap is not
testable when either SEM is ``None`` (one seed: no estimate of seed variation) or when the pooled SEM is
0 with a positive difference (all seeds gave identical rates, so the seed test has no scale and would
accept any positive difference). Never fail open: a claim that names an unknown condition raises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from valuesfirst.evals.stats import paired_bootstrap_diff

Sign = Literal[1, -1]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Gap(_Strict):
    """One directed gap between two conditions (a sub-item of ``all_gaps``; no id or title)."""

    a: str = Field(description="Condition whose rate is compared. Required.")
    b: str = Field(description="Condition it is compared against. Required.")
    sign: Sign = Field(default=1, description="1 (default): a's rate should exceed b's; -1: be below it.")
    min_sem_ratio: float = Field(
        default=2.0, gt=0, description="Default 2.0. The signed difference must exceed this many pooled SEMs."
    )


class GapClaim(Gap):
    """``a``'s rate is above (sign 1) or below (sign -1) ``b``'s by > ``min_sem_ratio`` pooled SEMs."""

    kind: Literal["gap"] = Field(description="Discriminator; always 'gap'.")
    id: str = Field(min_length=1, description="Stable identifier used in reports. Required.")
    title: str = Field(min_length=1, description="Human-readable statement of the claim. Required.")
    metric: str | None = Field(
        default=None,
        description="Metric the claim tests, e.g. choice, agentic.harmful (default eval.primary).",
    )


class AllGapsClaim(_Strict):
    """Every listed gap holds (three-valued AND: any failure fails; else any untestable is untestable)."""

    kind: Literal["all_gaps"] = Field(description="Discriminator; always 'all_gaps'.")
    id: str = Field(min_length=1, description="Stable identifier used in reports. Required.")
    title: str = Field(min_length=1, description="Human-readable statement of the claim. Required.")
    metric: str | None = Field(
        default=None,
        description="Metric the claim tests, e.g. choice, agentic.harmful (default eval.primary).",
    )
    gaps: list[Gap] = Field(min_length=1, description="The gaps that must all hold. Required, non-empty.")


class AttributionClaim(_Strict):
    """``full`` shows a clear effect against ``reference``; ``ablated`` retains < ``max_retained`` of it.

    With ``effect(x) = sign * (rate_x - rate_reference)``, holds iff
    ``effect(full) > min_sem_ratio * pooled_sem(full, reference)`` and
    ``effect(ablated) < max_retained * effect(full)``.
    """

    kind: Literal["attribution"] = Field(description="Discriminator; always 'attribution'.")
    id: str = Field(min_length=1, description="Stable identifier used in reports. Required.")
    title: str = Field(min_length=1, description="Human-readable statement of the claim. Required.")
    metric: str | None = Field(
        default=None,
        description="Metric the claim tests, e.g. choice, agentic.harmful (default eval.primary).",
    )
    full: str = Field(description="Condition with the complete intervention. Required.")
    ablated: str = Field(description="Condition with the component removed. Required.")
    reference: str = Field(description="Baseline condition the effect is measured from. Required.")
    sign: Sign = Field(default=1, description="1 (default): the effect raises the rate; -1: lowers it.")
    max_retained: float = Field(
        default=0.5, gt=0, le=1, description="Default 0.5. Largest share of the effect the ablation may keep."
    )
    min_sem_ratio: float = Field(
        default=2.0, gt=0, description="Default 2.0. effect(full) must exceed this many pooled SEMs."
    )


Claim = Annotated[GapClaim | AllGapsClaim | AttributionClaim, Field(discriminator="kind")]
"""A claim of any kind; pydantic picks the model from ``kind``."""


def _names(claim: GapClaim | AllGapsClaim | AttributionClaim) -> list[str]:
    if isinstance(claim, GapClaim):
        return [claim.a, claim.b]
    if isinstance(claim, AllGapsClaim):
        return [n for g in claim.gaps for n in (g.a, g.b)]
    return [claim.full, claim.ablated, claim.reference]


def _pooled_sem(sem_x: float | None, sem_y: float | None) -> float | None:
    if sem_x is None or sem_y is None:
        return None
    return math.sqrt(sem_x**2 + sem_y**2)


def _fmt_signed(x: float) -> str:
    return f"{x:+.3f}"


def _gap_numbers(
    hi: str, lo: str, sign: int, summaries: Mapping[str, Mapping[str, Any]], per_seed: Mapping[str, Any]
) -> dict[str, Any]:
    """Numbers for the gap "``hi`` vs ``lo``", with every difference signed as declared.

    ``diff = sign * (rate_hi - rate_lo)``: positive means the claim's direction.
    """
    rate_a = float(summaries[hi]["rate"])
    rate_b = float(summaries[lo]["rate"])
    diff = sign * (rate_a - rate_b)
    pooled = _pooled_sem(summaries[hi].get("sem"), summaries[lo].get("sem"))
    seeds_a, seeds_b = per_seed[hi], per_seed[lo]
    shared = sorted(set(seeds_a) & set(seeds_b))
    seed_diffs = {
        s: sign * (sum(seeds_a[s]) / len(seeds_a[s]) - sum(seeds_b[s]) / len(seeds_b[s])) for s in shared
    }
    boot = paired_bootstrap_diff(seeds_a, seeds_b)
    if sign == -1:
        boot = {
            "mean": -boot["mean"],
            "ci_low": -boot["ci_high"],
            "ci_high": -boot["ci_low"],
            "p_two_sided": boot["p_two_sided"],
        }
    return {
        "a": hi,
        "b": lo,
        "sign": sign,
        "rate_a": rate_a,
        "rate_b": rate_b,
        "diff": diff,
        "pooled_sem": pooled,
        "sem_ratio": diff / pooled if pooled else None,
        "per_seed_diffs": seed_diffs,
        "n_shared_seeds": len(shared),
        "n_seeds_positive": sum(1 for d in seed_diffs.values() if d > 0),
        "bootstrap": boot,
    }


def _sem_test(nums: Mapping[str, Any], min_ratio: float) -> tuple[bool | None, str]:
    """Apply ``diff > min_ratio * pooled_sem``; return the verdict and a one-line description."""
    a, b, sign = nums["a"], nums["b"], nums["sign"]
    # Write the difference in the declared direction, so a positive number always supports the claim.
    label = f"{a} − {b}" if sign == 1 else f"{b} − {a}"
    diff, pooled = nums["diff"], nums["pooled_sem"]
    boot = nums["bootstrap"]
    tail = (
        f"; {nums['n_seeds_positive']}/{nums['n_shared_seeds']} shared seeds positive; "
        f"bootstrap 95% CI [{_fmt_signed(boot['ci_low'])}, {_fmt_signed(boot['ci_high'])}]"
    )
    if pooled is None:
        return None, f"{label} = {_fmt_signed(diff)}, not testable: one seed, no SEM over seeds{tail}"
    if pooled == 0:
        if diff > 0:
            return None, (
                f"{label} = {_fmt_signed(diff)}, not testable: pooled SEM is 0 (identical per-seed "
                f"rates), the seed test has no scale{tail}"
            )
        return False, f"{label} = {_fmt_signed(diff)} with pooled SEM 0 (needs > 0){tail}"
    ratio = diff / pooled
    verdict = diff > min_ratio * pooled
    return verdict, (
        f"{label} = {_fmt_signed(diff)}, {ratio:.1f}× pooled SEM {pooled:.3f} "
        f"(needs > {min_ratio:.1f}×){tail}"
    )


def _and3(verdicts: Sequence[bool | None]) -> bool | None:
    """Three-valued AND: any False → False; else any None → None; else True."""
    if any(v is False for v in verdicts):
        return False
    if any(v is None for v in verdicts):
        return None
    return True


def _evaluate_one(
    claim: GapClaim | AllGapsClaim | AttributionClaim,
    summaries: Mapping[str, Mapping[str, Any]],
    per_seed: Mapping[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": claim.id, "title": claim.title, "kind": claim.kind}
    if isinstance(claim, GapClaim):
        nums = _gap_numbers(claim.a, claim.b, claim.sign, summaries, per_seed)
        holds, reason = _sem_test(nums, claim.min_sem_ratio)
        nums["min_sem_ratio"] = claim.min_sem_ratio
        out.update(holds=holds, reason=reason, numbers=nums)
        return out
    if isinstance(claim, AllGapsClaim):
        gaps, verdicts, reasons = [], [], []
        for gap in claim.gaps:
            nums = _gap_numbers(gap.a, gap.b, gap.sign, summaries, per_seed)
            verdict, why = _sem_test(nums, gap.min_sem_ratio)
            nums.update(min_sem_ratio=gap.min_sem_ratio, holds=verdict)
            gaps.append(nums)
            verdicts.append(verdict)
            mark = {True: "ok", False: "FAILS", None: "untestable"}[verdict]
            reasons.append(f"[{mark}] {why.split('; ')[0]}")
        out.update(holds=_and3(verdicts), reason="; ".join(reasons), numbers={"gaps": gaps})
        return out
    # Attribution: the full intervention's effect, and how much of it the ablation keeps.
    full = _gap_numbers(claim.full, claim.reference, claim.sign, summaries, per_seed)
    ablated = _gap_numbers(claim.ablated, claim.reference, claim.sign, summaries, per_seed)
    effect_full, effect_abl = full["diff"], ablated["diff"]
    full_ok, full_why = _sem_test(full, claim.min_sem_ratio)
    retained = effect_abl / effect_full if effect_full > 0 else None
    retained_ok = effect_abl < claim.max_retained * effect_full
    # Retention is a point comparison needing no SEM, so a clear failure there fails the claim
    # even when the effect itself is not testable (three-valued AND).
    holds = _and3([full_ok, retained_ok])
    retained_txt = f"{retained:.0%}" if retained is not None else "n/a (no effect)"
    reason = (
        f"effect {full_why.split('; ')[0]}; ablation {claim.ablated} keeps {_fmt_signed(effect_abl)} "
        f"= {retained_txt} of it (needs < {claim.max_retained:.0%})"
    )
    out.update(
        holds=holds,
        reason=reason,
        numbers={
            "full_vs_reference": full,
            "ablated_vs_reference": ablated,
            "effect_full": effect_full,
            "effect_ablated": effect_abl,
            "retained_fraction": retained,
            "max_retained": claim.max_retained,
            "min_sem_ratio": claim.min_sem_ratio,
        },
    )
    return out


def evaluate_claims(
    claims: Sequence[GapClaim | AllGapsClaim | AttributionClaim],
    summaries: Mapping[str, Mapping[str, Any]],
    per_seed: Mapping[str, Mapping[int, Sequence[float]]],
) -> list[dict[str, Any]]:
    """Check each claim against condition summaries (``summarize_condition`` output) and raw scores.

    Returns, per claim, ``{"id", "title", "kind", "holds", "reason", "numbers"}``: ``holds`` is
    ``True``/``False``/``None`` (not testable), ``reason`` one human sentence with the numbers, and
    ``numbers`` the rates, signed difference, pooled SEM, SEM ratio, per-seed paired differences
    (seeds both conditions have), ``n_seeds_positive`` and the paired bootstrap CI for each gap.

    Raises ``ValueError`` naming the claim and condition if a claim refers to a condition missing from
    ``summaries`` or ``per_seed``, or if claim ids repeat.
    """
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise ValueError(f"claim id {claim.id!r} is used more than once")
        seen.add(claim.id)
        for name in _names(claim):
            if name not in summaries:
                raise ValueError(
                    f"claim {claim.id!r} names condition {name!r}, which has no summary "
                    f"(known: {sorted(summaries)})"
                )
            if name not in per_seed:
                raise ValueError(
                    f"claim {claim.id!r} names condition {name!r}, which has no per-seed scores "
                    f"(known: {sorted(per_seed)})"
                )
    return [_evaluate_one(claim, summaries, per_seed) for claim in claims]
