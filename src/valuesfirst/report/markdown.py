"""The report as Markdown (``report.md``), escaped so result text cannot inject raw HTML or break tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from valuesfirst.report.results import CHART_FILE, RESULTS_FILE, _require_valid
from valuesfirst.report.tables import (
    _VERDICT_MARK,
    _VERDICT_WORD,
    _condition_rows,
    _gate_rows,
    _provenance_items,
    _stage_rows,
    summary_text,
)


def _md_text(text: Any) -> str:
    """One line of Markdown text: whitespace collapsed, ``<``/``>`` escaped so no raw HTML gets through."""
    return " ".join(str(text).split()).replace("<", "\\<").replace(">", "\\>")


def _md_cell(text: Any) -> str:
    # Pipes would split the cell and newlines would end the row.
    return _md_text(text).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(results: Mapping[str, Any], chart_name: str = CHART_FILE) -> str:
    """Render the report as Markdown: summary, claims, conditions, gates, stages, provenance, chart."""
    _require_valid(results)
    out = [f"# {_md_text(results['title'])}", ""]
    meta = [f"{k}: {results[k]}" for k in ("created", "run_dir") if results.get(k)]
    if meta:
        out += ["_" + _md_text(" · ".join(meta)).replace("_", "\\_") + "_", ""]
    out += [_md_text(summary_text(results)), "", "## Claims", ""]
    claims = results.get("claims") or []
    if not claims:
        out.append("No claims declared.")
    for claim in claims:
        mark = _VERDICT_MARK[claim["holds"]]
        title = _md_text(claim.get("title", claim["id"]))
        # Inside a code span HTML is inert and backslashes are literal; only a backtick could break out.
        claim_id = " ".join(str(claim["id"]).split()).replace("`", "'")
        out.append(
            f"- {mark} **{title}** (`{claim_id}`, {_VERDICT_WORD[claim['holds']]}): "
            f"{_md_text(claim.get('reason', ''))}"
        )
    out += ["", "## Conditions", ""]
    header, rows = _condition_rows(results)
    out += _md_table(header, rows)
    out += [
        "",
        "Rates are means over training seeds of the per-seed rate. ±SEM reflects training-seed "
        "variation; the 95% Wilson CI (n = pairs) reflects sampling of the evaluation pairs.",
        "",
    ]
    out += [f"![chart]({chart_name})", ""]
    gates = _gate_rows(results)
    if gates:
        out += ["## Gates", ""] + _md_table(["gate", "value", "threshold", "result"], gates) + [""]
    stages = _stage_rows(results)
    if stages:
        out += ["## Stages", ""] + _md_table(["kind", "label", "key", "status", "time"], stages) + [""]
    prov = _provenance_items(results)
    if prov:
        out += ["## Provenance", ""] + [f"- {_md_cell(k)}: {_md_cell(v)}" for k, v in prov] + [""]
    out += [f"Full numbers and the resolved config: `{RESULTS_FILE}`.", ""]
    return "\n".join(out)
