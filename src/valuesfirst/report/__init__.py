"""The experiment report: ``results.json`` rendered as Markdown, standalone HTML and a PNG bar chart.

``results.json`` is the single source of truth the runner writes; everything else here is a view of it,
so ``valuesfirst report RUN_DIR`` can re-render a report at any time with
``write_report(run_dir, load_results(run_dir))``.

One concept per module:

- ``results``: the results dict's shape, its checks (``check_results``) and ``load_results``;
- ``tables``: the plain-text rows and ``summary_text`` both renderers share;
- ``chart``: ``plot_conditions``, the PNG bar chart;
- ``markdown``: ``render_markdown``;
- ``html``: ``render_html``, one self-contained HTML page;
- ``write``: ``write_report``, which writes all four files atomically.
"""

from __future__ import annotations

from valuesfirst.report.chart import plot_conditions
from valuesfirst.report.html import render_html
from valuesfirst.report.markdown import render_markdown
from valuesfirst.report.results import (
    CHART_FILE,
    HTML_FILE,
    MARKDOWN_FILE,
    RESULTS_FILE,
    check_results,
    condition_order,
    load_results,
)
from valuesfirst.report.tables import summary_text
from valuesfirst.report.write import write_report

__all__ = [
    "CHART_FILE",
    "HTML_FILE",
    "MARKDOWN_FILE",
    "RESULTS_FILE",
    "check_results",
    "condition_order",
    "load_results",
    "plot_conditions",
    "render_html",
    "render_markdown",
    "summary_text",
    "write_report",
]
