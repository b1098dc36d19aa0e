"""Plain-text pieces both renderers share: table rows, number formatting and the summary paragraph.

Everything here returns unescaped text; the Markdown and HTML renderers escape it for their format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from valuesfirst.report.results import _is_number, condition_order

# Words, not emoji: ✅/❌ render as empty boxes on a server without an emoji font (headless Chromium).
_VERDICT_WORD = {True: "holds", False: "does not hold", None: "not testable"}
_GATE_WORD = {True: "passed", False: "FAILED", None: "unknown"}

# What every column of the condition table means; a control set not listed here is explained generically.
COLUMN_LEGEND = {
    "condition": "the training condition: its label (and id in the config)",
    "rate": "the headline metric (Metric, above): mean over training seeds of each seed's rate",
    "±SEM (seeds)": "standard error of the rate over training seeds (— with one seed): how much retraining "
    "moves it",
    "95% CI (pairs)": "Wilson 95% interval of the rate with n = evaluation pairs: how much the choice of "
    "pairs moves it (seed variation is in ±SEM, not here)",
    "soft": "forced choice: the mean of σ(log p(target) − log p(other)), the model's graded lean to the "
    "success option; it moves before the hard choice flips (0.5 = indifferent; — for other suites)",
    "per-seed rates": "the rate of each training seed (seed: rate)",
    "seeds": "training seeds evaluated",
    "pairs": "evaluation pairs per seed (each shown in both presentation orders)",
}
CONTROL_LEGEND = {
    "agree": "control: rate on held-out pairs where both values favour the same option (the preference is "
    "learned at all, not which value explains it); expected high for every trained condition",
    "train_domain": "control: rate on the training domain's own liked-versus-disliked pairs (the AFT "
    "preferences themselves, in-domain)",
}
STAGE_LEGEND = {
    "kind": "what the stage does: world (build the world), pretrain, msm_data/aft_data/replay (datasets), "
    "msm/aft (training), eval",
    "label": "the stage's readable name: a training chain and its seed (msm:A→aft seed=0) or a dataset/eval",
    "folder": "its folder in the run (stages/KIND-HASH; the hash is of every input and setting)",
    "status": "ran now, or reused: an identical stage had finished before",
    "time": "wall time of the stage in this run",
}


def condition_legend(header: list[str]) -> list[tuple[str, str]]:
    """(column, meaning) for every column of the condition table, in the table's order."""
    out = []
    for col in header:
        meaning = COLUMN_LEGEND.get(col) or CONTROL_LEGEND.get(col)
        if meaning is None:
            meaning = f"control: the rate of the item set or metric `{col}` (same pairs and seeds as rate)"
        out.append((col, meaning))
    return out


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
        for control in results["conditions"][name].get("controls") or {}:
            if control not in names:
                names.append(control)
    return names


def _f(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _is_number(x) else "—"


def _reuse_note(results: Mapping[str, Any]) -> str:
    """A rerun takes seconds because its stages were built before: say so beside the wall time."""
    stages = results.get("stages") or []
    reused = [s for s in stages if s.get("reused")]
    if not reused:
        return ""
    built = sum(s["duration_s"] for s in reused if _is_number(s.get("duration_s")))
    return (
        f" ({len(reused)} of {len(stages)} stages reused from an earlier run, where building them took "
        f"{_fmt_duration(built)} of compute)"
    )


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
    header = [
        "condition",
        "rate",
        "±SEM (seeds)",
        "95% CI (pairs)",
        "soft",
        *controls,
        "per-seed rates",
        "seeds",
        "pairs",
    ]
    rows = []
    for name in condition_order(results):
        c = results["conditions"][name]
        lo, hi = c["ci"]
        label = _label(results, name)
        rows.append(
            [
                label if label == name else f"{label} ({name})",
                _f(c["rate"]),
                "±" + _f(c.get("sem")) if c.get("sem") is not None else "—",
                f"[{_f(lo)}, {_f(hi)}]",
                _f(c.get("soft")),
                *[_f((c.get("controls") or {}).get(k)) for k in controls],
                ", ".join(f"{s}: {_f(r)}" for s, r in _seed_items(c["per_seed"])),
                str(c["n_seeds"]),
                str(c["n_pairs"]),
            ]
        )
    return header, rows


def _gate_rows(results: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for name, gate in (results.get("gates") or {}).items():
        passed = gate.get("passed")
        word = _GATE_WORD[passed if isinstance(passed, bool) else None]
        rows.append([str(name), _f(gate.get("value")), str(gate.get("threshold", "—")), word])
    return rows


def _stage_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """kind, label, folder, status, time; runs recorded before folders were logged show the key's start."""
    rows = []
    for stage in results.get("stages") or []:
        key = str(stage.get("key", ""))
        rows.append(
            [
                str(stage.get("kind", "")),
                str(stage.get("label", "")),
                str(stage.get("folder") or key[:12]),
                "reused" if stage.get("reused") else "ran",
                _fmt_duration(stage.get("duration_s")),
            ]
        )
    return rows


def stage_index_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """condition, seed, step, folder: where each condition's stages and evaluations live in the run.

    From the ``stage_index`` the runner writes into results.json; results recorded before it existed are
    read back from the stage labels they logged (``msm:A→aft seed=0``, ``eval[NAME:SUITE] seed=0``,
    ``eval[base:SUITE]``), and give nothing when they logged no folders either.
    """
    index = results.get("stage_index")
    if index:
        return [
            [_label(results, str(r["condition"])), "—" if r["seed"] is None else str(r["seed"]),
             str(r["step"]), str(r["folder"])]
            for r in index
            if r["condition"] in results["conditions"]
        ]  # fmt: skip
    folders = {str(s.get("label")): str(s["folder"]) for s in results.get("stages") or [] if s.get("folder")}
    if not folders:
        return []
    base = next((lb for lb in folders if lb == "pretrain" or lb.startswith("model[")), None)
    suites = [lb[len("eval[base:") : -1] for lb in folders if lb.startswith("eval[base:")]
    rows = []
    for name in condition_order(results):
        c = results["conditions"][name]
        steps = [str(s) for s in c.get("steps") or []]
        label = _label(results, name)
        if not steps:
            if base is not None:
                rows.append([label, "—", "base model", folders[base]])
            rows += [[label, "—", f"eval {s}", folders[f"eval[base:{s}]"]] for s in suites]
            continue
        for seed, _ in _seed_items(c["per_seed"]):
            for i, step in enumerate(steps):
                chain = f"{'→'.join(steps[: i + 1])} seed={seed}"
                if chain in folders:
                    rows.append([label, seed, step, folders[chain]])
            for s in suites:
                ev = folders.get(f"eval[{name}:{s}] seed={seed}")
                if ev is not None:
                    rows.append([label, seed, f"eval {s}", ev])
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
    if results.get("quick"):
        # A --quick run is a pipeline check: say so before anyone reads "0 of 5 claims hold" as a finding.
        parts.append(
            "SMOKE RUN (--quick): a few steps and seeds to check the pipeline; its claims are not results."
        )
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
        parts.append(f"The run took {_fmt_duration(results['duration_s'])}{_reuse_note(results)}.")
    failed = [name for name, g in (results.get("gates") or {}).items() if g.get("passed") is not True]
    if failed:
        # A failed pre-training gate means the model may lack the mechanism the experiment probes;
        # say so up front rather than let the claims be read at face value.
        parts.append(f"WARNING: gate(s) not passed: {', '.join(failed)}; interpret the results with care.")
    return " ".join(parts)
