"""The report as Markdown (``report.md``), escaped so result text cannot inject raw HTML or break tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from valuesfirst.report.results import CHART_FILE, RESULTS_FILE, _require_valid
from valuesfirst.report.tables import (
    _VERDICT_WORD,
    STAGE_LEGEND,
    _condition_rows,
    _gate_rows,
    _provenance_items,
    _stage_rows,
    condition_legend,
    stage_index_rows,
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
        verdict = _VERDICT_WORD[claim["holds"]].upper()
        title = _md_text(claim.get("title", claim["id"]))
        # Inside a code span HTML is inert and backslashes are literal; only a backtick could break out.
        claim_id = " ".join(str(claim["id"]).split()).replace("`", "'")
        out.append(f"- {verdict}: **{title}** (`{claim_id}`): {_md_text(claim.get('reason', ''))}")
    out += ["", "## Conditions", ""]
    header, rows = _condition_rows(results)
    out += _md_table(header, rows)
    out += ["", "Columns:", ""]
    out += [f"- **{_md_text(col)}**: {_md_text(meaning)}" for col, meaning in condition_legend(header)]
    out.append("")
    out += [f"![chart]({chart_name})", ""]
    gates = _gate_rows(results)
    if gates:
        out += ["## Gates", ""] + _md_table(["gate", "value", "threshold", "result"], gates) + [""]
    index = stage_index_rows(results)
    if index:
        linked = [[*row[:3], f"[{row[3]}]({row[3]})"] for row in index]
        out += ["## Where each condition's stages are", ""]
        out += _md_table(["condition", "seed", "step", "folder"], linked) + [""]
    stages = _stage_rows(results)
    if stages:
        out += ["## Stages", ""] + _md_table(list(STAGE_LEGEND), stages) + [""]
        out += [f"- **{k}**: {_md_text(v)}" for k, v in STAGE_LEGEND.items()] + [""]
    prov = _provenance_items(results)
    if prov:
        out += ["## Provenance", ""] + [f"- {_md_cell(k)}: {_md_cell(v)}" for k, v in prov] + [""]
    out += [f"Full numbers and the resolved config: `{RESULTS_FILE}`.", ""]
    return "\n".join(out)
