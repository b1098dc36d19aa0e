"""``results.json``: its shape, the checks a results dict must pass, and reading it back from a run.

``results.json`` is the single source of truth the runner writes; the Markdown, HTML and chart are views
of it. Shape of the results dict (keys marked * are required)::

    {"title"*: str, "description": str, "metric": str, "created": iso str, "run_dir": str,
     "duration_s": float,
     "conditions"*: {name: {"label": str, "description": str, **summarize_condition output,
                            "controls": {control_name: rate}}},
     "condition_order": [names], "claims": [evaluate_claims output],
     "gates": {name: {"value": float, "threshold": str, "passed": bool}},
     "stages": [{"kind", "label", "key", "reused": bool, "duration_s": float, "folder": str}],
     "stage_index": [{"condition": name, "seed": int | None, "step": str, "folder": str}],
     "provenance": {...}, "config": {...}}

Each condition needs ``rate``, ``ci``, ``n_seeds``, ``n_pairs`` and ``per_seed``. Seeds in ``per_seed``
are ints in memory and strings after a JSON round trip; both are accepted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem

RESULTS_FILE = "results.json"
MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"
CHART_FILE = "chart.png"

_REQUIRED_CONDITION_KEYS = ("rate", "ci", "n_seeds", "n_pairs", "per_seed")
# mkstemp creates 0600 files; reports are meant to be shared, so give them ordinary permissions.
_FILE_MODE = 0o644


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
        raise InputError.single(
            f"not valid JSON: {exc.msg} (column {exc.colno})", file=str(path), line=exc.lineno
        ) from exc
    _require_valid(results, str(path))
    return dict(results)
