"""Writing a run's report files: ``results.json`` plus the chart, Markdown and HTML views of it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from valuesfirst.report.chart import plot_conditions
from valuesfirst.report.html import render_html
from valuesfirst.report.markdown import render_markdown
from valuesfirst.report.results import (
    _FILE_MODE,
    CHART_FILE,
    HTML_FILE,
    MARKDOWN_FILE,
    RESULTS_FILE,
    _require_valid,
)


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
