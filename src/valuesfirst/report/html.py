"""The report as one standalone HTML file (``report.html``): inline CSS and the chart embedded as base64."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from valuesfirst.report.results import _require_valid
from valuesfirst.report.tables import (
    _VERDICT_WORD,
    STAGE_LEGEND,
    _condition_rows,
    _control_names,
    _gate_rows,
    _provenance_items,
    _stage_rows,
    condition_legend,
    stage_index_rows,
    summary_text,
)

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1f2933; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #667; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.claims { list-style: none; padding-left: 0; } ul.claims li { margin: 0.5em 0; }
.holds { color: #1a7f37; } .fails { color: #cf222e; } .untestable { color: #6e7781; }
.verdict { font-weight: bold; text-transform: uppercase; font-size: 0.85em; letter-spacing: 0.03em; }
dl.legend { font-size: 0.85em; color: #444; display: grid; grid-template-columns: max-content auto;
            gap: 0.15em 1em; } dl.legend dt { font-weight: bold; } dl.legend dd { margin: 0; }
.reason { display: block; font-size: 0.9em; color: #444; margin-left: 1.6em; }
.warn { background: #fff4e5; border: 1px solid #f0b429; padding: 0.5em; }
img.chart { max-width: 100%; height: auto; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], num_cols: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i in num_cols else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _legend(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f'<dl class="legend">{rows}</dl>'


def render_html(results: Mapping[str, Any], chart_png_path: Path | str) -> str:
    """Render a standalone HTML report (inline CSS, the chart embedded as a base64 data URI)."""
    _require_valid(results)
    chart_path = Path(chart_png_path)
    if not chart_path.is_file():
        raise FileNotFoundError(
            f"render_html: chart {chart_path} does not exist; draw it with plot_conditions first"
        )
    chart_b64 = base64.b64encode(chart_path.read_bytes()).decode("ascii")
    title = str(results["title"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    meta = [f"{k}: {results[k]}" for k in ("created", "run_dir") if results.get(k)]
    if meta:
        parts.append(f'<p class="meta">{_e(" · ".join(meta))}</p>')
    summary = summary_text(results)
    gate_failed = any(g.get("passed") is not True for g in (results.get("gates") or {}).values())
    parts.append(f'<p class="{"warn" if gate_failed else "summary"}">{_e(summary)}</p>')
    parts.append("<h2>Claims</h2>")
    claims = results.get("claims") or []
    if not claims:
        parts.append("<p>No claims declared.</p>")
    else:
        css = {True: "holds", False: "fails", None: "untestable"}
        items = []
        for c in claims:
            holds = c["holds"]
            items.append(
                f'<li><span class="{css[holds]}"><span class="verdict">{_VERDICT_WORD[holds]}</span> '
                f"<strong>{_e(c.get('title', c['id']))}</strong></span> (<code>{_e(c['id'])}</code>)"
                f'<span class="reason">{_e(c.get("reason", ""))}</span></li>'
            )
        parts.append('<ul class="claims">' + "".join(items) + "</ul>")
    parts.append("<h2>Conditions</h2>")
    header, rows = _condition_rows(results)
    n_ctrl = len(_control_names(results))
    parts.append(_html_table(header, rows, num_cols=[1, 2, 4, *range(5, 5 + n_ctrl), 6 + n_ctrl, 7 + n_ctrl]))
    parts.append(_legend(condition_legend(header)))
    parts.append(
        f'<img class="chart" alt="bar chart of condition rates" src="data:image/png;base64,{chart_b64}">'
    )
    gates = _gate_rows(results)
    if gates:
        gate_header = ["gate", "value", "threshold", "result"]
        parts += ["<h2>Gates</h2>", _html_table(gate_header, gates, num_cols=[1])]
    index = stage_index_rows(results)
    if index:
        parts += [
            "<h2>Where each condition's stages are</h2>",
            _html_table(["condition", "seed", "step", "folder"], index),
        ]
    stages = _stage_rows(results)
    if stages:
        parts += ["<h2>Stages</h2>", _html_table(list(STAGE_LEGEND), stages, num_cols=[4])]
        parts.append(_legend(list(STAGE_LEGEND.items())))
    prov = _provenance_items(results)
    if prov:
        parts += ["<h2>Provenance</h2>", _html_table(["item", "value"], prov)]
    if results.get("config") is not None:
        config_json = json.dumps(results["config"], indent=2, sort_keys=True, default=str)
        parts.append(f"<details><summary>Resolved config</summary><pre>{_e(config_json)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
