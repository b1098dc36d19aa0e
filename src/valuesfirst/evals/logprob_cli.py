"""Log-probability suites on a local model folder: ``values`` (forced choice) and ``capability``.

Kept apart from the generation pipeline because nothing is sampled: the scores are a deterministic
function of the weights, so there is no transcript to keep; ``scores.jsonl`` records each item's
log-probabilities instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError
from valuesfirst.evals import capability, conflict_pairs, values
from valuesfirst.evals.scoring import summarize
from valuesfirst.jsonl import read_jsonl, write_json, write_jsonl
from valuesfirst.provenance import provenance


def value_items(path: Path | None) -> list[dict[str, Any]]:
    """Items from ``path``: items, a source (``pairs`` or favoured/disfavoured lists), or conflict pairs
    (rows whose ``options`` are objects, see :mod:`valuesfirst.evals.conflict_pairs`); default: the
    shipped set."""
    if path is None:
        return values.make_items(values.load_source(capability.shipped("value_pairs.jsonl")))
    first = read_jsonl(path)[:1]
    if first and ("favoured" in first[0] or "pairs" in first[0]):
        return values.make_items(values.load_source(path))
    if first and conflict_pairs.is_conflict_pairs_row(first[0]):
        return conflict_pairs.load_conflict_pairs(path)
    return values.load_items(path)


def local_path(model: str | None) -> Path:
    if model is None:
        raise InputError.single("--model is required: a local model folder (or local:PATH)", field="model")
    from valuesfirst.models.named import NAMED_MODELS

    name = model.removeprefix("local:")
    if name in NAMED_MODELS:
        from valuesfirst.models.refs import resolve_model_ref

        return Path(resolve_model_ref(name, field="model"))
    path = Path(name)
    if not path.is_dir():
        raise InputError.single(
            "log-prob suites need a local model folder (served models: use a SCHEME:MODEL URI with the "
            "`values` suite, which then generates and parses)",
            file=str(path),
        )
    return path


def run_logprob_suite(
    suite: str, model: str | None, out: Path, items: Path | None, condition: str | None, seed: int | None,
    console: Any, forced_choice: values.ForcedChoiceConfig | None = None,
) -> dict[str, Any]:  # fmt: skip
    from valuesfirst.models.load import load_model

    path = local_path(model)
    net, tok = load_model(path)  # safetensors only, trust_remote_code off
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    scoring: dict[str, Any] = {"method": "log-probability"}
    if suite == "values":
        fc = forced_choice or values.ForcedChoiceConfig()
        rows = values.score_local(net, tok, value_items(items), condition, seed, fc)
        metric = values.METRIC
        scoring.update(fc.model_dump())
        scoring["ties"] = sum(1 for r in rows if r["detail"]["tie"])
    else:
        mc = capability.load_mc(items or capability.shipped("capability_mc.jsonl"))
        rows = capability.score_mc(net, tok, mc, condition, seed)
        texts = [
            r["text"] for r in read_jsonl(capability.shipped("capability_text.jsonl"), required=("text",))
        ]
        extra["perplexity"] = capability.perplexity(net, tok, texts)
        metric = capability.METRIC
    write_jsonl(out / "scores.jsonl", rows)
    summary = {
        "suite": suite,
        "model": str(path),
        "scoring": scoring,
        "metrics": {metric: summarize(rows, metric)},
        **extra,
        "seconds": (seconds := time.perf_counter() - start),
        "items_per_s": len(rows) / seconds if seconds > 0 else None,
        "provenance": provenance(),
    }
    write_json(out / "summary.json", summary)
    how = ""
    if suite == "values":
        how = ", options compared by " + {"mean": "mean log-prob per token", "sum": "summed log-prob"}[
            scoring["normalize"]
        ]
    for cond, s in summary["metrics"][metric].items():
        ci = s["micro_ci"]
        n = f"n={s['n_scored']}" + (f", {s['n_units']} pairs" if "n_units" in s else "")
        console.print(
            f"{suite} {metric} [{cond}]: macro {s['macro']:.3f}, micro {s['micro']:.3f} "
            f"[{ci[0]:.2f}, {ci[1]:.2f}] ({n}{how})"
        )
    if "perplexity" in extra:
        console.print(f"held-out perplexity: {extra['perplexity']['perplexity']:.2f}")
    console.print(f"written: {out / 'scores.jsonl'}, {out / 'summary.json'}")
    return summary
