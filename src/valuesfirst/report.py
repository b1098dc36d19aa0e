"""The experiment report: ``results.json`` rendered as Markdown, standalone HTML and a PNG bar chart.

``results.json`` is the single source of truth the runner writes; everything else here is a view of it,
so ``valuesfirst report RUN_DIR`` can re-render a report at any time with
``write_report(run_dir, load_results(run_dir))``.

Shape of the results dict (keys marked * are required)::

    {"title"*: str, "description": str, "metric": str, "created": iso str, "run_dir": str,
     "duration_s": float,
     "conditions"*: {name: {"label": str, "description": str, **summarize_condition output,
                            "controls": {control_name: rate}}},
     "condition_order": [names], "claims": [evaluate_claims output],
     "gates": {name: {"value": float, "threshold": str, "passed": bool}},
     "stages": [{"kind", "label", "key", "reused": bool, "duration_s": float}],
     "provenance": {...}, "config": {...}}

Each condition needs ``rate``, ``ci``, ``n_seeds``, ``n_pairs`` and ``per_seed``. Seeds in ``per_seed``
are ints in memory and strings after a JSON round trip; both are accepted.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from valuesfirst.errors import InputError, Problem

RESULTS_FILE = "results.json"
MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"
CHART_FILE = "chart.png"

_REQUIRED_CONDITION_KEYS = ("rate", "ci", "n_seeds", "n_pairs", "per_seed")
# mkstemp creates 0600 files; reports are meant to be shared, so give them ordinary permissions.
_FILE_MODE = 0o644
_VERDICT_MARK = {True: "✅", False: "❌", None: "—"}
_VERDICT_WORD = {True: "holds", False: "fails", None: "not testable"}


# ---------------------------------------------------------------------------------------------------
# Validation and small helpers
# ---------------------------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_results(results: Any, file: str | None = None) -> list[Problem]:
    """Return every structural problem in a results dict (empty list when it can be rendered)."""
    problems: list[Problem] = []

    def bad(field: str | None, message: str) -> None:
        problems.append(Problem(file=file, line=None, field=field, message=message))

    if not isinstance(results, Mapping):
        bad(None, f"results must be a JSON object, got {type(results).__name__}")
        return problems
    if not isinstance(results.get("title"), str):
        bad("title", "missing or not a string")
    conditions = results.get("conditions")
    if not isinstance(conditions, Mapping) or not conditions:
        bad("conditions", "missing, empty or not an object")
        return problems
    for name, cond in conditions.items():
        where = f"conditions.{name}"
        if not isinstance(cond, Mapping):
            bad(where, "must be an object")
            continue
        for key in _REQUIRED_CONDITION_KEYS:
            if key not in cond:
                bad(f"{where}.{key}", "missing")
        if "rate" in cond and not (_is_number(cond["rate"]) and 0 <= cond["rate"] <= 1):
            bad(f"{where}.rate", f"must be a number in [0, 1], got {cond['rate']!r}")
        ci = cond.get("ci")
        if "ci" in cond and not (isinstance(ci, Sequence) and len(ci) == 2 and all(map(_is_number, ci))):
            bad(f"{where}.ci", f"must be [low, high], got {ci!r}")
        if cond.get("sem") is not None and not _is_number(cond["sem"]):
            bad(f"{where}.sem", f"must be a number or null, got {cond['sem']!r}")
        per_seed = cond.get("per_seed")
        if "per_seed" in cond and not (
            isinstance(per_seed, Mapping) and all(_is_number(v) for v in per_seed.values())
        ):
            bad(f"{where}.per_seed", "must map seed to rate")
    order = results.get("condition_order")
    if order is not None:
        if not isinstance(order, list):
            bad("condition_order", "must be a list of condition names")
        else:
            for name in order:
                if name not in conditions:
                    bad("condition_order", f"names condition {name!r}, which is not in `conditions`")
    claims = results.get("claims", [])
    if not isinstance(claims, list):
        bad("claims", "must be a list")
    else:
        for i, claim in enumerate(claims):
            if not isinstance(claim, Mapping) or "id" not in claim or "holds" not in claim:
                bad(f"claims[{i}]", "must be an object with at least `id` and `holds`")
            elif claim["holds"] not in (True, False, None):
                bad(f"claims[{i}].holds", f"must be true, false or null, got {claim['holds']!r}")
    return problems


def _require_valid(results: Any, file: str | None = None) -> None:
    problems = check_results(results, file)
    if problems:
        raise InputError(problems)


def condition_order(results: Mapping[str, Any]) -> list[str]:
    """Conditions in display order: ``condition_order`` first, then any condition it leaves out."""
    order = list(results.get("condition_order") or [])
    return order + [name for name in results["conditions"] if name not in order]


def _seed_items(per_seed: Mapping[Any, float]) -> list[tuple[str, float]]:
    """Per-seed rates sorted by seed number (keys may be ints or their JSON strings)."""

    def key(item: tuple[Any, float]) -> tuple[int, Any]:
        try:
            return (0, int(item[0]))
        except (TypeError, ValueError):
            return (1, str(item[0]))

    return [(str(s), float(r)) for s, r in sorted(per_seed.items(), key=key)]


def _control_names(results: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for name in condition_order(results):
        for control in (results["conditions"][name].get("controls") or {}):
            if control not in names:
                names.append(control)
    return names


def _f(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _is_number(x) else "—"


def _fmt_duration(seconds: Any) -> str:
    if not _is_number(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _label(results: Mapping[str, Any], name: str) -> str:
    return str(results["conditions"][name].get("label") or name)


def _condition_rows(results: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the condition table, as plain text (callers escape for their format)."""
    controls = _control_names(results)
    header = ["condition", "rate", "±SEM (seeds)", "95% CI (pairs)", "soft", *controls, "per-seed rates",
              "seeds", "pairs"]
    rows = []
    for name in condition_order(results):
        c = results["conditions"][name]
        lo, hi = c["ci"]
        label = _label(results, name)
        rows.append([
            label if label == name else f"{label} ({name})",
            _f(c["rate"]),
            "±" + _f(c.get("sem")) if c.get("sem") is not None else "—",
            f"[{_f(lo)}, {_f(hi)}]",
            _f(c.get("soft")),
            *[_f((c.get("controls") or {}).get(k)) for k in controls],
            ", ".join(f"{s}: {_f(r)}" for s, r in _seed_items(c["per_seed"])),
            str(c["n_seeds"]),
            str(c["n_pairs"]),
        ])
    return header, rows


def _gate_rows(results: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, gate in (results.get("gates") or {}).items():
        passed = gate.get("passed")
        mark = "✅ passed" if passed is True else "❌ FAILED" if passed is False else "— unknown"
        rows.append([str(name), _f(gate.get("value")), str(gate.get("threshold", "—")), mark])
    return rows


def _stage_rows(results: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for stage in results.get("stages") or []:
        key = str(stage.get("key", ""))
        rows.append([
            str(stage.get("kind", "")),
            str(stage.get("label", "")),
            key[:12],
            "reused" if stage.get("reused") else "ran",
            _fmt_duration(stage.get("duration_s")),
        ])
    return rows


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]], depth: int = 0) -> None:
    """Flatten provenance into ``dotted.key: value`` lines (two levels deep, lists joined)."""
    if isinstance(value, Mapping) and depth < 2:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out, depth + 1)
    elif isinstance(value, (list, tuple)):
        out.append((prefix, ", ".join(str(v) for v in value)))
    elif isinstance(value, Mapping):
        out.append((prefix, json.dumps(value, sort_keys=True, default=str)))
    else:
        out.append((prefix, str(value)))


def _provenance_items(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    _flatten("", results.get("provenance") or {}, out)
    return out


def summary_text(results: Mapping[str, Any]) -> str:
    """One plain-text paragraph: what was measured, how many claims hold, how big the run was."""
    parts: list[str] = []
    if results.get("description"):
        parts.append(str(results["description"]).strip())
    if results.get("metric"):
        parts.append(f"Metric: {results['metric']}.")
    claims = results.get("claims") or []
    if claims:
        n_hold = sum(1 for c in claims if c.get("holds") is True)
        n_fail = sum(1 for c in claims if c.get("holds") is False)
        n_na = len(claims) - n_hold - n_fail
        parts.append(f"{n_hold} of {len(claims)} claims hold, {n_fail} fail, {n_na} not testable.")
    else:
        parts.append("No claims were declared.")
    conds = [results["conditions"][n] for n in condition_order(results)]
    seeds = sorted({int(c["n_seeds"]) for c in conds})
    pairs = sorted({int(c["n_pairs"]) for c in conds})
    seeds_txt = "/".join(str(s) for s in seeds)
    pairs_txt = "/".join(str(p) for p in pairs)
    parts.append(f"{len(conds)} conditions, {seeds_txt} seeds and {pairs_txt} evaluation pairs each.")
    if _is_number(results.get("duration_s")):
        parts.append(f"The run took {_fmt_duration(results['duration_s'])}.")
    failed = [name for name, g in (results.get("gates") or {}).items() if g.get("passed") is not True]
    if failed:
        # A failed pre-training gate means the model may lack the mechanism the experiment probes;
        # say so up front rather than let the claims be read at face value.
        parts.append(f"WARNING: gate(s) not passed: {', '.join(failed)}; interpret the results with care.")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------------
# Chart
# ---------------------------------------------------------------------------------------------------


def plot_conditions(results: Mapping[str, Any], path: Path | str) -> Path:
    """Draw the bar chart of condition rates to ``path`` (PNG) and return the path.

    One bar per condition (height = rate); thick error bar = ±1 SEM over training seeds; thin capped
    error bar = 95% Wilson CI over pairs; dots = per-seed rates; dashed line at 0.5 = no preference.
    """
    _require_valid(results)
    path = Path(path)
    names = condition_order(results)
    conds = [results["conditions"][n] for n in names]
    n = len(names)
    # Pyplot-free Figure: no global backend state, safe in threads and headless runs.
    fig = Figure(figsize=(max(6.0, 1.0 * n + 4.0), 5.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(n))
    rates = [float(c["rate"]) for c in conds]
    ax.bar(xs, rates, width=0.65, color="#8fb3d9", edgecolor="#3b6a99", zorder=2)
    for x, c in zip(xs, conds, strict=True):
        lo, hi = (float(v) for v in c["ci"])
        rate = float(c["rate"])
        ax.errorbar(x, rate, yerr=[[max(0.0, rate - lo)], [max(0.0, hi - rate)]], fmt="none",
                    ecolor="#555555", elinewidth=1.0, capsize=9, capthick=1.0, zorder=3)
        if c.get("sem") is not None:
            ax.errorbar(x, rate, yerr=float(c["sem"]), fmt="none", ecolor="#1f2f40", elinewidth=5.0,
                        capsize=0, zorder=4)
        seeds = _seed_items(c["per_seed"])
        # Dots sit to the right of the error bars so they never hide the SEM bar.
        k = len(seeds)
        offsets = [0.19] if k == 1 else [0.1 + 0.18 * i / (k - 1) for i in range(k)]
        ax.scatter([x + o for o in offsets], [r for _, r in seeds], s=22, facecolor="white",
                   edgecolor="#c0392b", linewidth=1.2, zorder=5)
        ax.text(x, 0.015, f"{rate:.2f}", ha="center", va="bottom", fontsize=8, color="#1f2f40", zorder=6)
    ax.axhline(0.5, color="#444444", linestyle="--", linewidth=1.0, zorder=1)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xticks(xs)
    ax.set_xticklabels([textwrap.fill(_label(results, nm), 22) for nm in names], rotation=30, ha="right",
                       rotation_mode="anchor", fontsize=9)
    ax.set_ylabel(textwrap.fill(str(results.get("metric") or "rate"), 45), fontsize=9)
    ax.set_title(textwrap.fill(str(results["title"]), 70), fontsize=11)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    handles = [
        Patch(facecolor="#8fb3d9", edgecolor="#3b6a99", label="rate (mean over seeds)"),
        Line2D([], [], color="#1f2f40", linewidth=5.0, label="±1 SEM over training seeds"),
        Line2D([], [], color="#555555", linewidth=1.0, marker="_", markersize=12,
               label="95% Wilson CI (pair sampling)"),
        Line2D([], [], linestyle="none", marker="o", markerfacecolor="white", markeredgecolor="#c0392b",
               label="per-seed rate"),
        Line2D([], [], color="#444444", linestyle="--", linewidth=1.0, label="0.5 = no preference"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", bbox_inches="tight")
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


# ---------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------


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
        out.append(f"- {mark} **{title}** (`{claim_id}`, {_VERDICT_WORD[claim['holds']]}): "
                   f"{_md_text(claim.get('reason', ''))}")
    out += ["", "## Conditions", ""]
    header, rows = _condition_rows(results)
    out += _md_table(header, rows)
    out += ["", "Rates are means over training seeds of the per-seed rate. ±SEM reflects training-seed "
            "variation; the 95% Wilson CI (n = pairs) reflects sampling of the evaluation pairs.", ""]
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


# ---------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------

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
        "<tr>" + "".join(
            f'<td class="num">{_e(c)}</td>' if i in num_cols else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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
                f'<li><span class="{css[holds]}">{_VERDICT_MARK[holds]} <strong>{_e(c.get("title", c["id"]))}'
                f"</strong></span> (<code>{_e(c['id'])}</code>, {_VERDICT_WORD[holds]})"
                f'<span class="reason">{_e(c.get("reason", ""))}</span></li>'
            )
        parts.append('<ul class="claims">' + "".join(items) + "</ul>")
    parts.append("<h2>Conditions</h2>")
    header, rows = _condition_rows(results)
    n_ctrl = len(_control_names(results))
    parts.append(_html_table(header, rows, num_cols=[1, 2, 4, *range(5, 5 + n_ctrl), 6 + n_ctrl, 7 + n_ctrl]))
    parts.append(
        '<p class="meta">Rates are means over training seeds of the per-seed rate. ±SEM reflects '
        "training-seed variation; the 95% Wilson CI (n = pairs) reflects sampling of the evaluation "
        "pairs.</p>"
    )
    parts.append(
        f'<img class="chart" alt="bar chart of condition rates" src="data:image/png;base64,{chart_b64}">'
    )
    gates = _gate_rows(results)
    if gates:
        gate_header = ["gate", "value", "threshold", "result"]
        parts += ["<h2>Gates</h2>", _html_table(gate_header, gates, num_cols=[1])]
    stages = _stage_rows(results)
    if stages:
        parts += ["<h2>Stages</h2>", _html_table(["kind", "label", "key", "status", "time"], stages,
                                                 num_cols=[4])]
    prov = _provenance_items(results)
    if prov:
        parts += ["<h2>Provenance</h2>", _html_table(["item", "value"], prov)]
    if results.get("config") is not None:
        config_json = json.dumps(results["config"], indent=2, sort_keys=True, default=str)
        parts.append(f"<details><summary>Resolved config</summary><pre>{_e(config_json)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder and ``os.replace``, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    # numpy scalars have .item(); anything else is a bug in the caller, so refuse it.
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    raise TypeError(f"results contain a value JSON cannot hold: {type(obj).__name__} {obj!r}")


def write_report(run_dir: Path | str, results: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``results.json``, ``chart.png``, ``report.md`` and ``report.html`` into ``run_dir``.

    Every file is written atomically. Returns ``{"results", "chart", "markdown", "html"}`` → path.
    Raises ``InputError`` if the results cannot be rendered, ``ValueError`` if they hold NaN/inf.
    """
    run_dir = Path(run_dir)
    _require_valid(results, str(run_dir / RESULTS_FILE))
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": run_dir / RESULTS_FILE,
        "chart": run_dir / CHART_FILE,
        "markdown": run_dir / MARKDOWN_FILE,
        "html": run_dir / HTML_FILE,
    }
    # allow_nan=False: NaN is not JSON, and a report of NaN would hide a broken evaluation.
    text = json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default)
    _atomic_write_text(paths["results"], text + "\n")
    plot_conditions(results, paths["chart"])
    _atomic_write_text(paths["markdown"], render_markdown(results, CHART_FILE))
    _atomic_write_text(paths["html"], render_html(results, paths["chart"]))
    return paths


def load_results(run_dir: Path | str) -> dict[str, Any]:
    """Read and check ``RUN_DIR/results.json``; raise ``InputError`` naming the file (and line) if bad."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise InputError.single(
            f"no {RESULTS_FILE} here; is {run_dir} a finished run directory?", file=str(path)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.single(f"cannot read: {exc}", file=str(path)) from exc
    try:
        results = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.single(f"not valid JSON: {exc.msg} (column {exc.colno})", file=str(path),
                                line=exc.lineno) from exc
    _require_valid(results, str(path))
    return dict(results)
