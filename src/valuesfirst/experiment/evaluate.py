"""One evaluation stage: a stage's model on one suite, written as files the report reads back.

* forced choice: ``scores.jsonl`` (both options' log-probabilities per item) and ``rates.json``;
* a generation suite: ``transcripts.jsonl``, ``scores.jsonl``, ``summary.json`` (evals/pipeline.py), the
  model served by the local backend from a merged copy written into the stage's build folder and removed
  once the transcripts are written.

Every stage reduces to ``units.json``: ``{metric: {unit: score}}`` with the mean over a unit's scored
samples, units whose every sample was excluded left out and counted in ``excluded``. The experiment's
statistics read only that file, whatever the suite.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError
from valuesfirst.experiment.evals import ForcedChoiceEval, SuiteEval
from valuesfirst.jsonl import read_jsonl, write_json, write_jsonl
from valuesfirst.train.lineage import Lineage
from valuesfirst.train.train_config import ModelSource

UNITS = "units.json"


def _model(source: ModelSource, lineage: Lineage) -> tuple[Any, Any]:
    import torch

    from valuesfirst.train.lineage import load_tokenizer, merged

    tokenizer, _ = load_tokenizer(source, needs_chat=True)
    model = merged(source, lineage, tokenizer, torch.float32, seed=0)
    model.eval()
    return model, tokenizer


def forced_choice_items(suite: ForcedChoiceEval, items: Path) -> list[dict[str, Any]]:
    """The items of a forced-choice suite: the world's eval stage file, or a JSONL of items or pairs."""
    from valuesfirst.evals.logprob_cli import value_items

    if items.is_dir():
        return read_jsonl(items / "eval.jsonl")
    return value_items(items)


def run_suite(
    suite: ForcedChoiceEval | SuiteEval,
    source: ModelSource,
    lineage: Lineage,
    items: Path | None,
    out: Path,
    cache: Path,
    spec: Path | None = None,
) -> dict[str, Any]:
    if isinstance(suite, ForcedChoiceEval):
        return _forced_choice(suite, source, lineage, items, out)
    return _generation_suite(suite, source, lineage, items, out, cache, spec)


def _forced_choice(
    suite: ForcedChoiceEval, source: ModelSource, lineage: Lineage, items: Path | None, out: Path
) -> dict[str, Any]:
    from valuesfirst.models.logprob import check_items_fit, pair_scores, score_items, set_rates

    assert items is not None
    rows = forced_choice_items(suite, items)
    if suite.limit is not None:
        first = list(dict.fromkeys(str(r.get("pair_id", r.get("id"))) for r in rows))[: suite.limit]
        rows = [r for r in rows if str(r.get("pair_id", r.get("id"))) in set(first)]
    model, tokenizer = _model(source, lineage)
    check_items_fit(model, tokenizer, rows, "forced-choice")
    scored = score_items(
        model, tokenizer, rows, batch_size=suite.batch_size, normalize=suite.normalize,
        prefix_cache=suite.prefix_cache,
    )  # fmt: skip
    write_jsonl(out / "scores.jsonl", scored)
    rates = set_rates(scored)
    write_json(out / "rates.json", rates)
    units: dict[str, dict[str, float]] = {}
    for set_name in [suite.metric_set, *(c for c in suite.controls if c != suite.metric_set)]:
        if set_name not in rates:
            continue
        ids, hard, soft = pair_scores(scored, set_name)
        metric = suite.name if set_name == suite.metric_set else f"{suite.name}.{set_name}"
        units[metric] = dict(zip(ids, hard, strict=True))
        units[f"{metric}.soft"] = dict(zip(ids, soft, strict=True))
    if suite.name not in units:
        raise InputError.single(
            f"no item of set {suite.metric_set!r} (sets: {sorted(rates)})", field="eval.suites.metric_set"
        )
    write_json(out / UNITS, {"units": units, "excluded": {}})
    return {"rates": rates}


def _generation_suite(
    suite: SuiteEval,
    source: ModelSource,
    lineage: Lineage,
    items: Path | None,
    out: Path,
    cache: Path,
    spec: Path | None,
) -> dict[str, Any]:
    from valuesfirst.evals.pipeline import generate_transcripts, score_transcripts
    from valuesfirst.evals.runner import GenerationConfig
    from valuesfirst.evals.suites import SuiteOptions, get_suite
    from valuesfirst.experiment.data_stages import backend_for
    from valuesfirst.llm.client import ClientConfig, LLMClient
    from valuesfirst.llm.local_hf import LocalHFBackend
    from valuesfirst.train.outputs import save_full_model

    s = get_suite(suite.suite)
    items = items or suite.items
    if suite.limit is not None and items is not None:
        from valuesfirst.jsonl import iter_jsonl

        head = [row for _, row in zip(range(suite.limit), iter_jsonl(items), strict=False)]
        items = out / "items.jsonl"
        write_jsonl(items, head)  # the rows actually asked, kept beside their transcripts
    options = SuiteOptions.model_validate({**suite.options, "items": items, "spec": spec})
    gen = GenerationConfig(
        samples=suite.samples, temperature=suite.temperature, max_tokens=suite.max_tokens, seed=0
    )
    served = out / "_model"
    model, tokenizer = _model(source, lineage)
    save_full_model(model, tokenizer, served, None)
    del model
    client_cfg = ClientConfig(concurrency=1, cache_dir=cache)
    model_client = LLMClient(LocalHFBackend(served), client_cfg)
    judge = LLMClient(backend_for(suite.judge, None, None), client_cfg) if suite.judge else None

    async def run() -> dict[str, Any]:
        try:
            await generate_transcripts(s, options, model_client, gen, out)
            return await score_transcripts(s, out, judge, None)
        finally:
            await model_client.aclose()
            if judge is not None:
                await judge.aclose()

    try:
        summary = asyncio.run(run())
    finally:
        shutil.rmtree(served, ignore_errors=True)
    per_unit: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    excluded: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in read_jsonl(out / "scores.jsonl"):
        for m, v in row["metrics"].items():
            metric = f"{suite.metric_name}.{m}"
            if v is None:
                excluded[metric][str(row["excluded"].get(m, "excluded"))] += 1
            else:
                per_unit[metric][str(row["unit"])].append(float(v))
    units = {m: {u: sum(v) / len(v) for u, v in us.items()} for m, us in per_unit.items()}
    if s.metrics and f"{suite.metric_name}.{s.metrics[0]}" in units:  # the suite's headline metric
        units[suite.metric_name] = units[f"{suite.metric_name}.{s.metrics[0]}"]
    write_json(out / UNITS, {"units": units, "excluded": {m: dict(v) for m, v in excluded.items()}})
    return {"metrics": summary.get("metrics", {}), "excluded": {m: dict(v) for m, v in excluded.items()}}
