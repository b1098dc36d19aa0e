"""The PNG bar chart of condition rates, with seed and pair-sampling uncertainty drawn on each bar."""

from __future__ import annotations

import os
import tempfile
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from valuesfirst.report.results import _FILE_MODE, _require_valid, condition_order
from valuesfirst.report.tables import _label, _seed_items


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
        ax.errorbar(
            x,
            rate,
            yerr=[[max(0.0, rate - lo)], [max(0.0, hi - rate)]],
            fmt="none",
            ecolor="#555555",
            elinewidth=1.0,
            capsize=9,
            capthick=1.0,
            zorder=3,
        )
        if c.get("sem") is not None:
            ax.errorbar(
                x,
                rate,
                yerr=float(c["sem"]),
                fmt="none",
                ecolor="#1f2f40",
                elinewidth=5.0,
                capsize=0,
                zorder=4,
            )
        seeds = _seed_items(c["per_seed"])
        # Dots sit to the right of the error bars so they never hide the SEM bar.
        k = len(seeds)
        offsets = [0.19] if k == 1 else [0.1 + 0.18 * i / (k - 1) for i in range(k)]
        ax.scatter(
            [x + o for o in offsets],
            [r for _, r in seeds],
            s=22,
            facecolor="white",
            edgecolor="#c0392b",
            linewidth=1.2,
            zorder=5,
        )
        ax.text(x, 0.015, f"{rate:.2f}", ha="center", va="bottom", fontsize=8, color="#1f2f40", zorder=6)
    ax.axhline(0.5, color="#444444", linestyle="--", linewidth=1.0, zorder=1)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_xticks(xs)
    ax.set_xticklabels(
        [textwrap.fill(_label(results, nm), 22) for nm in names],
        rotation=30,
        ha="right",
        rotation_mode="anchor",
        fontsize=9,
    )
    ax.set_ylabel(textwrap.fill(str(results.get("metric") or "rate"), 45), fontsize=9)
    ax.set_title(textwrap.fill(str(results["title"]), 70), fontsize=11)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    handles = [
        Patch(facecolor="#8fb3d9", edgecolor="#3b6a99", label="rate (mean over seeds)"),
        Line2D([], [], color="#1f2f40", linewidth=5.0, label="±1 SEM over training seeds"),
        Line2D(
            [],
            [],
            color="#555555",
            linewidth=1.0,
            marker="_",
            markersize=12,
            label="95% Wilson CI (pair sampling)",
        ),
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="#c0392b",
            label="per-seed rate",
        ),
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
