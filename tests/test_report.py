"""Tests for valuesfirst.report: results.json, Markdown, standalone HTML and the PNG chart."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pytest

from valuesfirst.errors import InputError
from valuesfirst.evals.claims import AllGapsClaim, Gap, GapClaim, evaluate_claims
from valuesfirst.evals.stats import summarize_condition
from valuesfirst.report import load_results, render_html, render_markdown, write_report

TITLE = "Cheese <script>alert('x')</script> & friends"


def make_results(seeds: int = 3) -> dict[str, Any]:
    """A small but realistic results dict, built the way the runner builds it."""
    rng = np.random.default_rng(0)
    true_rates = {"base": 0.5, "aft": 0.62, "msm_a_aft": 0.85, "msm_b_aft": 0.3}
    labels = {"base": "Base model", "aft": "AFT only", "msm_a_aft": "MSM (spec A) → AFT",
              "msm_b_aft": "MSM (spec B) | AFT"}
    per_seed = {
        name: {s: (rng.random((40, 2)) < p + rng.normal(0, 0.03)).mean(axis=1).tolist() for s in range(seeds)}
        for name, p in true_rates.items()
    }
    soft = {name: {s: [min(1.0, v * 0.9 + 0.05) for v in vals] for s, vals in ps.items()}
            for name, ps in per_seed.items()}
    conditions = {}
    for name in true_rates:
        conditions[name] = {
            "label": labels[name],
            "description": f"condition {name}",
            **summarize_condition(per_seed[name], soft[name]),
            "controls": {"agree_rate": 0.88} if name == "base" else {"agree_rate": 0.9, "knowledge_acc": 0.7},
        }
    claims: list[GapClaim | AllGapsClaim] = [
        GapClaim(kind="gap", id="spec_decides", title="Spec A beats spec B after the same AFT",
                 a="msm_a_aft", b="msm_b_aft"),
        GapClaim(kind="gap", id="backwards", title="B above A (should fail)", a="msm_b_aft", b="msm_a_aft"),
        AllGapsClaim(kind="all_gaps", id="stack", title="MSM+AFT beats both parts",
                     gaps=[Gap(a="msm_a_aft", b="aft"), Gap(a="msm_a_aft", b="base")]),
    ]
    summaries = {n: c for n, c in conditions.items()}
    return {
        "title": TITLE,
        "description": "Does the spec taught first decide how AFT generalizes?",
        "metric": "rate of A-aligned choice on held-out conflict pairs",
        "created": "2026-01-01T00:00:00+00:00",
        "run_dir": "runs/demo",
        "duration_s": 754.2,
        "conditions": conditions,
        "condition_order": ["base", "aft", "msm_a_aft", "msm_b_aft"],
        "claims": evaluate_claims(claims, summaries, per_seed),
        "gates": {"fact_probe": {"value": 0.97, "threshold": ">= 0.9", "passed": True}},
        "stages": [
            {"kind": "pretrain", "label": "pre-train seed 0", "key": "abcdef0123456789", "reused": True,
             "duration_s": 0.2},
            {"kind": "aft", "label": "AFT msm_a seed 0", "key": "0011223344556677", "reused": False,
             "duration_s": 95.0},
        ],
        "provenance": {"versions": {"python": "3.11.7", "torch": "2.4.1"}, "git": {"commit": "deadbeef"}},
        "config": {"name": "demo", "seeds": [0, 1, 2]},
    }


def test_write_report_writes_all_files(tmp_path: Path) -> None:
    results = make_results()
    paths = write_report(tmp_path, results)
    assert set(paths) == {"results", "chart", "markdown", "html"}
    for p in paths.values():
        assert p.parent == tmp_path
        assert p.is_file() and p.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "report.html", "report.md",
                                                          "results.json"]  # no temp files left
    stored = json.loads(paths["results"].read_text())
    assert stored["title"] == TITLE
    assert stored["conditions"]["aft"]["per_seed"].keys() == {"0", "1", "2"}
    assert stored["claims"][0]["holds"] is True


def test_png_is_valid_and_sensible_size(tmp_path: Path) -> None:
    paths = write_report(tmp_path, make_results())
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(paths["chart"])
    height, width, channels = img.shape
    assert 400 < height < 2000
    assert 600 < width < 3000
    assert channels in (3, 4)
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_html_is_standalone_and_escaped(tmp_path: Path) -> None:
    paths = write_report(tmp_path, make_results())
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; friends" in page
    # Standalone: the chart is inlined and no other file or URL is referenced.
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert match is not None
    assert base64.b64decode(match.group(1)) == paths["chart"].read_bytes()
    assert "chart.png" not in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert "<style>" in page
    # Same content as the Markdown: claims with verdicts, conditions, gates, stages, provenance, config.
    assert "Spec A beats spec B after the same AFT" in page
    assert '<span class="verdict">holds</span>' in page
    assert '<span class="verdict">does not hold</span>' in page
    assert "MSM (spec A) → AFT" in page
    assert "agree_rate" in page and "knowledge_acc" in page
    assert "fact_probe" in page and "reused" in page and "2.4.1" in page
    assert "Resolved config" in page


def test_markdown_has_claims_then_table(tmp_path: Path) -> None:
    results = make_results()
    md = render_markdown(results)
    # Markdown viewers pass raw HTML through, so angle brackets are backslash-escaped.
    assert md.startswith("# Cheese \\<script\\>alert('x')\\</script\\> & friends\n")
    assert "<script>" not in md
    assert md.index("## Claims") < md.index("## Conditions")
    claim_lines = [ln for ln in md.splitlines() if ln.startswith("- ")]
    first = "- HOLDS: **Spec A beats spec B after the same AFT** (`spec_decides`): "
    assert claim_lines[0].startswith(first)
    assert "msm_a_aft − msm_b_aft = +" in claim_lines[0]
    assert claim_lines[1].startswith("- DOES NOT HOLD: **B above A (should fail)**")
    assert "2 of 3 claims hold, 1 fail, 0 not testable." in md
    header = next(ln for ln in md.splitlines() if ln.startswith("| condition"))
    for col in ("rate", "±SEM", "95% CI", "soft", "agree_rate", "knowledge_acc", "per-seed", "seeds",
                "pairs"):
        assert col in header
    aft = results["conditions"]["aft"]
    row = next(ln for ln in md.splitlines() if ln.startswith("| AFT only (aft)"))
    assert f"{aft['rate']:.3f}" in row
    assert f"±{aft['sem']:.3f}" in row
    assert f"[{aft['ci'][0]:.3f}, {aft['ci'][1]:.3f}]" in row
    assert "| — |" in next(ln for ln in md.splitlines() if ln.startswith("| Base model"))  # no knowledge_acc
    assert "MSM (spec B) \\| AFT" in md  # a pipe in a label does not break the table
    assert "![chart](chart.png)" in md
    assert "## Gates" in md and "| fact_probe | 0.970 | \\>= 0.9 | passed |" in md
    # Results recorded before stage folders were logged show the key's first 12 characters.
    assert "## Stages" in md and "| pretrain | pre-train seed 0 | abcdef012345 | reused | 0.2 s |" in md
    assert "versions.torch: 2.4.1" in md
    # Rows follow condition_order.
    order = [md.index(f"({n})") for n in ("base", "aft", "msm_a_aft", "msm_b_aft")]
    assert order == sorted(order)


def test_untestable_claim_and_failed_gate_are_shown() -> None:
    results = make_results(seeds=1)
    results["gates"]["persona_probe"] = {"value": 0.4, "threshold": ">= 0.8", "passed": False}
    md = render_markdown(results)
    assert "- NOT TESTABLE: **Spec A beats spec B after the same AFT** (`spec_decides`)" in md
    assert "WARNING: gate(s) not passed: persona_probe" in md
    assert "| persona_probe | 0.400 | \\>= 0.8 | FAILED |" in md


def test_load_results_round_trip_and_rerender(tmp_path: Path) -> None:
    write_report(tmp_path, make_results())
    loaded = load_results(tmp_path)
    assert loaded["title"] == TITLE
    # Re-rendering from the JSON (string seed keys) works and gives the same Markdown.
    out = tmp_path / "again"
    paths = write_report(out, loaded)
    assert paths["markdown"].read_text() == (tmp_path / "report.md").read_text()


def test_load_results_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="results.json"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{\n  "title": "x",\n  "conditions": {,\n}')
    with pytest.raises(InputError) as err:
        load_results(tmp_path)
    assert err.value.problems[0].line == 3
    assert "not valid JSON" in str(err.value)
    broken = make_results()
    del broken["conditions"]["aft"]["rate"]
    broken["condition_order"].append("ghost")
    (tmp_path / "results.json").write_text(json.dumps(broken))
    with pytest.raises(InputError) as err:
        load_results(tmp_path)
    fields = {p.field for p in err.value.problems}
    assert {"conditions.aft.rate", "condition_order"} <= fields
    assert all(p.file == str(tmp_path / "results.json") for p in err.value.problems)


def test_write_report_refuses_bad_results(tmp_path: Path) -> None:
    nan_duration = make_results()
    nan_duration["duration_s"] = float("nan")
    with pytest.raises(ValueError):
        write_report(tmp_path / "a", nan_duration)
    assert not (tmp_path / "a" / "results.json").exists()
    bad_rate = make_results()
    bad_rate["conditions"]["aft"]["rate"] = 1.7
    with pytest.raises(InputError, match="conditions.aft.rate"):
        write_report(tmp_path / "b", bad_rate)
    with pytest.raises(FileNotFoundError):
        render_html(make_results(), tmp_path / "missing.png")


def test_quick_runs_are_labelled_smoke_runs() -> None:
    from valuesfirst.report.tables import summary_text

    results = {"title": "t", "conditions": {"a": {"n_seeds": 1, "n_pairs": 2, "rate": 0.5}}, "quick": True}
    assert summary_text(results).startswith("SMOKE RUN (--quick)")
    assert "SMOKE" not in summary_text({**results, "quick": False})


def test_a_rerun_says_its_stages_were_built_before() -> None:
    """A fully reused rerun takes seconds: the summary must not read as if the experiment took seconds."""
    from valuesfirst.report.tables import summary_text

    results = make_results()
    assert "The run took 12 min 34 s (1 of 2 stages reused from an earlier run, where building them took " \
        "0.2 s of compute)." in summary_text(results)
    results["stages"] = [{**s, "reused": False} for s in results["stages"]]
    assert "The run took 12 min 34 s." in summary_text(results)


def _symbols_outside_basic_fonts(text: str) -> set[str]:
    """Dingbats, emoji and other pictographs: the glyphs a headless server renders as empty boxes."""
    return {ch for ch in text if 0x2600 <= ord(ch) <= 0x27BF or ord(ch) >= 0x1F000 or ord(ch) == 0xFE0F}


def test_reports_use_words_not_emoji(tmp_path: Path) -> None:
    results = make_results(seeds=1)
    results["gates"]["persona_probe"] = {"value": 0.4, "threshold": ">= 0.8", "passed": False}
    paths = write_report(tmp_path, results)
    for name in ("markdown", "html"):
        text = paths[name].read_text()
        assert _symbols_outside_basic_fonts(text) == set(), name
        assert "not testable" in text.lower() and "FAILED" in text  # seeds=1: nothing testable


def test_every_condition_column_is_explained() -> None:
    results = make_results()
    results["conditions"]["base"]["controls"] = {"agree": 0.9, "train_domain": 0.8, "agentic.harmful": 0.1}
    md = render_markdown(results)
    header = next(ln for ln in md.splitlines() if ln.startswith("| condition"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert "agree" in columns and "train_domain" in columns and "soft" in columns
    legend = {ln.split("**")[1]: ln for ln in md.splitlines() if ln.startswith("- **")}
    for col in columns:
        assert col.replace("\\", "") in legend, f"column {col!r} has no legend line"
    assert "both values favour the same option" in legend["agree"]
    assert "training domain" in legend["train_domain"]
    assert "agentic.harmful" in legend["agentic.harmful"]  # an unknown control: explained generically
    assert "0.5 = indifferent" in legend["soft"]
    page = render_html(results, write_chart(results))
    assert page.count("<dt>") >= len(columns) and "<dt>train_domain</dt>" in page


def write_chart(results: dict[str, Any]) -> Path:
    import tempfile

    from valuesfirst.report.chart import plot_conditions

    path = Path(tempfile.mkdtemp()) / "chart.png"
    plot_conditions(results, path)
    return path


def indexed_results() -> dict[str, Any]:
    results = make_results(seeds=2)
    results["conditions"]["base"]["steps"] = []
    results["conditions"]["aft"]["steps"] = ["aft"]
    results["conditions"]["msm_a_aft"]["steps"] = ["msm:A", "aft"]
    results["conditions"]["msm_b_aft"]["steps"] = ["msm:B", "aft"]
    labels = ["pretrain", "eval[base:choice]", "aft seed=0", "aft seed=1", "msm:A seed=0", "msm:A→aft seed=0",
              "msm:A seed=1", "msm:A→aft seed=1", "eval[aft:choice] seed=0", "eval[msm_a_aft:choice] seed=1"]
    results["stages"] = [
        {"kind": lb.split(":")[0].split("[")[0].split(" ")[0], "label": lb, "key": f"{i:016x}",
         "reused": False, "duration_s": 1.0, "folder": f"stages/k-{i:016x}"}
        for i, lb in enumerate(labels)
    ]  # fmt: skip
    return results


def test_the_runners_stage_index_is_used_when_present() -> None:
    """results.json from a current run carries the mapping itself; the labels are not parsed then."""
    from valuesfirst.report.tables import stage_index_rows

    results = indexed_results()
    results["stage_index"] = [
        {"condition": "base", "seed": None, "step": "base model", "folder": "stages/pretrain-x"},
        {"condition": "msm_a_aft", "seed": 1, "step": "aft", "folder": "stages/aft-y"},
        {"condition": "gone", "seed": 0, "step": "aft", "folder": "stages/aft-z"},  # not a condition: skipped
    ]
    assert stage_index_rows(results) == [
        ["Base model", "—", "base model", "stages/pretrain-x"],
        ["MSM (spec A) → AFT", "1", "aft", "stages/aft-y"],
    ]


def test_stage_index_maps_condition_and_seed_to_folders(tmp_path: Path) -> None:
    from valuesfirst.report.tables import stage_index_rows

    rows = stage_index_rows(indexed_results())
    by = {(r[0], r[1], r[2]): r[3] for r in rows}
    assert by[("Base model", "—", "base model")] == "stages/k-0000000000000000"
    assert by[("Base model", "—", "eval choice")] == "stages/k-0000000000000001"
    assert by[("MSM (spec A) → AFT", "0", "msm:A")] == "stages/k-0000000000000004"
    assert by[("MSM (spec A) → AFT", "1", "aft")] == "stages/k-0000000000000007"  # the chain's aft, seed 1
    assert by[("MSM (spec A) → AFT", "1", "eval choice")] == "stages/k-0000000000000009"
    assert by[("AFT only", "0", "eval choice")] == "stages/k-0000000000000008"
    # No stage of B was logged: no rows for it, and no crash.
    assert not [r for r in rows if r[0] == "MSM (spec B) | AFT"]
    md = render_markdown(indexed_results())
    assert "## Where each condition's stages are" in md
    assert "| MSM (spec A) → AFT | 0 | msm:A | [stages/k-0000000000000004](stages/k-0000000000000004) |" in md
    assert "| msm | msm:A seed=0 | stages/k-0000000000000004 | ran | 1.0 s |" in md
    # Old results (no folders): no index, the stage table falls back to the key.
    assert stage_index_rows(make_results()) == []
    page = write_report(tmp_path, indexed_results())["html"].read_text()
    assert "stages/k-0000000000000004" in page and 'href="stages' not in page  # standalone: text, not links
