"""Tests for valuesfirst.evals.claims: each claim kind holds, fails, or is not testable as declared."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from valuesfirst.evals.claims import (
    AllGapsClaim,
    AttributionClaim,
    Claim,
    Gap,
    GapClaim,
    evaluate_claims,
)
from valuesfirst.evals.stats import summarize_condition

N_PAIRS = 100


def _scores(rate: float) -> list[float]:
    """N_PAIRS per-pair scores whose mean is exactly ``rate`` (a multiple of 1/N_PAIRS)."""
    k = round(rate * N_PAIRS)
    return [1.0] * k + [0.0] * (N_PAIRS - k)


def _data(**conditions: list[float]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[int, list[float]]]]:
    """Build (summaries, per_seed) from per-seed rates, seeds numbered 0.."""
    per_seed = {name: {i: _scores(r) for i, r in enumerate(rates)} for name, rates in conditions.items()}
    return {name: summarize_condition(ps) for name, ps in per_seed.items()}, per_seed


def _gap(a: str, b: str, **kw: Any) -> GapClaim:
    return GapClaim(kind="gap", id=f"{a}_vs_{b}", title=f"{a} vs {b}", a=a, b=b, **kw)


# Three seeds each. hi-lo: diff 0.30, SEMs 0.0115 each -> ratio ~18. mid-lo: diff 0.10, pooled ~0.065 -> 1.5.
SUMMARIES, PER_SEED = _data(
    hi=[0.80, 0.82, 0.78],
    lo=[0.50, 0.52, 0.48],
    mid=[0.60, 0.50, 0.70],
    lo2=[0.50, 0.55, 0.45],
    one=[0.90],
    flat_hi=[0.70, 0.70],
    flat_lo=[0.40, 0.40],
)


def test_gap_holds_with_numbers_and_reason() -> None:
    [r] = evaluate_claims([_gap("hi", "lo")], SUMMARIES, PER_SEED)
    assert r["holds"] is True
    assert (r["id"], r["kind"], r["title"]) == ("hi_vs_lo", "gap", "hi vs lo")
    n = r["numbers"]
    assert n["rate_a"] == pytest.approx(0.80)
    assert n["rate_b"] == pytest.approx(0.50)
    assert n["diff"] == pytest.approx(0.30)
    sem = 0.02 / math.sqrt(3)  # std(ddof=1) of (0.80, 0.82, 0.78) is 0.02
    assert n["pooled_sem"] == pytest.approx(math.sqrt(2) * sem)
    assert n["sem_ratio"] == pytest.approx(0.30 / (math.sqrt(2) * sem))
    assert n["per_seed_diffs"] == {0: pytest.approx(0.3), 1: pytest.approx(0.3), 2: pytest.approx(0.3)}
    assert n["n_seeds_positive"] == 3
    assert n["bootstrap"]["ci_low"] < 0.30 < n["bootstrap"]["ci_high"]
    assert n["bootstrap"]["ci_low"] > 0
    assert "hi − lo = +0.300" in r["reason"]
    assert "needs > 2.0×" in r["reason"]
    assert "18.4× pooled SEM 0.016" in r["reason"]


def test_gap_fails_when_difference_is_within_noise() -> None:
    [r] = evaluate_claims([_gap("mid", "lo2")], SUMMARIES, PER_SEED)
    assert r["holds"] is False
    assert r["numbers"]["diff"] == pytest.approx(0.10)
    assert r["numbers"]["sem_ratio"] == pytest.approx(0.10 / math.sqrt((0.1 / math.sqrt(3)) ** 2
                                                                       + (0.05 / math.sqrt(3)) ** 2))
    # The same gap passes with a laxer threshold: the threshold really is applied.
    [lax] = evaluate_claims([_gap("mid", "lo2", min_sem_ratio=1.0)], SUMMARIES, PER_SEED)
    assert lax["holds"] is True
    # Wrong direction fails.
    [rev] = evaluate_claims([_gap("lo", "hi")], SUMMARIES, PER_SEED)
    assert rev["holds"] is False
    assert rev["numbers"]["diff"] == pytest.approx(-0.30)
    assert rev["numbers"]["n_seeds_positive"] == 0


def test_gap_sign_minus_one() -> None:
    # "lo's rate should be below hi's": holds, with the difference reported positive as declared.
    [r] = evaluate_claims([_gap("lo", "hi", sign=-1)], SUMMARIES, PER_SEED)
    assert r["holds"] is True
    n = r["numbers"]
    assert n["diff"] == pytest.approx(0.30)
    assert n["n_seeds_positive"] == 3
    assert n["bootstrap"]["mean"] == pytest.approx(0.30)
    assert n["bootstrap"]["ci_low"] > 0
    assert "hi − lo = +0.300" in r["reason"]
    [wrong] = evaluate_claims([_gap("hi", "lo", sign=-1)], SUMMARIES, PER_SEED)
    assert wrong["holds"] is False


def test_gap_not_testable_with_one_seed_or_zero_sem() -> None:
    [r] = evaluate_claims([_gap("one", "lo")], SUMMARIES, PER_SEED)
    assert r["holds"] is None
    assert r["numbers"]["pooled_sem"] is None
    assert r["numbers"]["sem_ratio"] is None
    assert "not testable" in r["reason"]
    assert r["numbers"]["n_shared_seeds"] == 1
    # Identical per-seed rates: no seed-variation scale, so a positive gap is not accepted blindly...
    [flat] = evaluate_claims([_gap("flat_hi", "flat_lo")], SUMMARIES, PER_SEED)
    assert flat["holds"] is None
    # ...but a gap in the wrong direction still fails.
    [flat_rev] = evaluate_claims([_gap("flat_lo", "flat_hi")], SUMMARIES, PER_SEED)
    assert flat_rev["holds"] is False


def _all(*gaps: Gap) -> AllGapsClaim:
    return AllGapsClaim(kind="all_gaps", id="stack", title="stacking", gaps=list(gaps))


def test_all_gaps_three_valued_and() -> None:
    both = _all(Gap(a="hi", b="lo"), Gap(a="hi", b="mid"))
    one_fails = _all(Gap(a="hi", b="lo"), Gap(a="mid", b="lo2"))
    untestable = _all(Gap(a="hi", b="lo"), Gap(a="one", b="lo"))
    untestable_and_fail = _all(Gap(a="one", b="lo"), Gap(a="lo", b="hi"))
    results = evaluate_claims([both], SUMMARIES, PER_SEED)
    assert results[0]["holds"] is True
    assert [g["holds"] for g in results[0]["numbers"]["gaps"]] == [True, True]
    assert evaluate_claims([one_fails], SUMMARIES, PER_SEED)[0]["holds"] is False
    assert evaluate_claims([untestable], SUMMARIES, PER_SEED)[0]["holds"] is None
    r = evaluate_claims([untestable_and_fail], SUMMARIES, PER_SEED)[0]
    assert r["holds"] is False
    assert "[FAILS]" in r["reason"]
    assert "[untestable]" in r["reason"]
    assert "\n" not in r["reason"]


def _attr(full: str, ablated: str, reference: str, **kw: Any) -> AttributionClaim:
    return AttributionClaim(kind="attribution", id="attr", title="attribution", full=full, ablated=ablated,
                            reference=reference, **kw)


def test_attribution_holds_fails_and_untestable() -> None:
    summaries, per_seed = _data(
        full=[0.80, 0.82, 0.78],
        ablated_small=[0.55, 0.57, 0.53],  # keeps 0.05 / 0.30 = 17% of the effect
        ablated_big=[0.70, 0.72, 0.68],  # keeps 67%
        ref=[0.50, 0.52, 0.48],
        full_one=[0.80],
        ref_one=[0.50],
        abl_one=[0.75],
    )
    [ok] = evaluate_claims([_attr("full", "ablated_small", "ref")], summaries, per_seed)
    assert ok["holds"] is True
    assert ok["numbers"]["retained_fraction"] == pytest.approx(0.05 / 0.30)
    assert ok["numbers"]["effect_full"] == pytest.approx(0.30)
    assert "17%" in ok["reason"]
    [kept] = evaluate_claims([_attr("full", "ablated_big", "ref")], summaries, per_seed)
    assert kept["holds"] is False
    # A lax retention threshold lets the same data pass: max_retained is applied.
    [lax] = evaluate_claims([_attr("full", "ablated_big", "ref", max_retained=0.8)], summaries, per_seed)
    assert lax["holds"] is True
    # No effect at all (full == reference) fails.
    [none] = evaluate_claims([_attr("ref", "ablated_small", "ref")], summaries, per_seed)
    assert none["holds"] is False
    # One seed: the effect has no SEM, so not testable ...
    [one] = evaluate_claims([_attr("full_one", "ref_one", "ref_one")], summaries, per_seed)
    assert one["holds"] is None
    # ... unless the ablation plainly keeps most of the effect, which fails without any SEM.
    [one_kept] = evaluate_claims([_attr("full_one", "abl_one", "ref_one")], summaries, per_seed)
    assert one_kept["holds"] is False


def test_attribution_sign_minus_one() -> None:
    # The intervention should *lower* the rate (e.g. misalignment): full 0.2 vs reference 0.6.
    summaries, per_seed = _data(full=[0.20, 0.22, 0.18], abl=[0.55, 0.57, 0.53], ref=[0.60, 0.62, 0.58])
    [r] = evaluate_claims([_attr("full", "abl", "ref", sign=-1)], summaries, per_seed)
    assert r["holds"] is True
    assert r["numbers"]["effect_full"] == pytest.approx(0.40)
    assert r["numbers"]["effect_ablated"] == pytest.approx(0.05)
    [wrong] = evaluate_claims([_attr("full", "abl", "ref", sign=1)], summaries, per_seed)
    assert wrong["holds"] is False


def test_unknown_condition_and_duplicate_ids_raise() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        evaluate_claims([_gap("hi", "nope")], SUMMARIES, PER_SEED)
    with pytest.raises(ValueError, match="'ghost'"):
        evaluate_claims([_all(Gap(a="hi", b="lo"), Gap(a="ghost", b="lo"))], SUMMARIES, PER_SEED)
    with pytest.raises(ValueError, match="'absent'"):
        evaluate_claims([_attr("hi", "absent", "lo")], SUMMARIES, PER_SEED)
    # Present in summaries but without raw scores is also an error, not a silent skip.
    with pytest.raises(ValueError, match="per-seed"):
        evaluate_claims([_gap("hi", "lo")], SUMMARIES, {"hi": PER_SEED["hi"]})
    with pytest.raises(ValueError, match="more than once"):
        evaluate_claims([_gap("hi", "lo"), _gap("hi", "lo")], SUMMARIES, PER_SEED)


def test_claims_parse_from_config_dicts() -> None:
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[Claim])
    claims = adapter.validate_python([
        {"kind": "gap", "id": "g", "title": "t", "a": "hi", "b": "lo", "min_sem_ratio": 3.0},
        {"kind": "all_gaps", "id": "s", "title": "t", "gaps": [{"a": "hi", "b": "lo", "sign": -1}]},
        {"kind": "attribution", "id": "x", "title": "t", "full": "hi", "ablated": "mid", "reference": "lo"},
    ])
    assert isinstance(claims[0], GapClaim)
    assert claims[0].sign == 1
    assert claims[0].min_sem_ratio == 3.0
    assert isinstance(claims[1], AllGapsClaim)
    assert claims[1].gaps[0].sign == -1
    assert isinstance(claims[2], AttributionClaim)
    assert claims[2].max_retained == 0.5
    results = evaluate_claims(claims, SUMMARIES, PER_SEED)
    assert [r["holds"] for r in results] == [True, False, True]
    for bad in (
        {"kind": "gap", "id": "g", "title": "t", "a": "hi", "b": "lo", "sign": 2},
        {"kind": "gap", "id": "g", "title": "t", "a": "hi", "b": "lo", "typo_field": 1},
        {"kind": "ratio", "id": "g", "title": "t"},
        {"kind": "all_gaps", "id": "s", "title": "t", "gaps": []},
        {"kind": "all_gaps", "id": "s", "title": "t", "gaps": [{"a": "hi", "b": "lo", "id": "x"}]},
    ):
        with pytest.raises(ValidationError):
            adapter.validate_python([bad])
