"""``generate aft``: spec -> conversation domains -> queries -> dedup -> responses -> judge -> backfill.

Rounds: each answers ``ceil(gap x oversample)`` queries from a seeded pool, generating more queries
(``sample`` = round index) when the pool runs short, until the target is reached, a round adds no sample,
or ``max_rounds`` have run. Outputs (``messages`` JSONL that TRL and datasets read as they are):
``dataset_cot.jsonl`` (assistant turn = ``<think>…</think>`` + reply) and ``dataset_nocot.jsonl`` (reply
only), derived from the same samples and in the same order; ``dataset.jsonl`` is the one ``cot`` selects;
``samples.jsonl`` holds every sample's full provenance and judge verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuesfirst.generate import aft_queries, aft_samples
from valuesfirst.generate.aft_queries import AftContext
from valuesfirst.generate.config import AftGenConfig
from valuesfirst.generate.engines import BulkEngine, open_engine
from valuesfirst.generate.levels import LevelStats, LevelStore, Row, Runner
from valuesfirst.generate.lock import output_lock
from valuesfirst.generate.manifest import RunRecord, final_order, key_base, shortfalls
from valuesfirst.generate.templates import PromptSet, load_prompts
from valuesfirst.jsonl import write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.spec import Spec
from valuesfirst.spec_render import render

AFT_TEMPLATES = (
    "system",
    "domains",
    "queries",
    "opaque_queries",
    "response_value",
    "response_rule",
    "response_opaque",
    "judge_value",
    "judge_rule",
    "judge_opaque",
)


def aft_prompts(config: AftGenConfig) -> PromptSet:
    return load_prompts("aft", config.prompt_version, AFT_TEMPLATES, config.prompts_dir)


def messages(sample: Row, *, cot: bool) -> list[dict[str, str]]:
    reply = sample["response"]
    if cot and sample["thinking"]:
        reply = f"<think>\n{sample['thinking']}\n</think>\n\n{reply}"
    return [{"role": "user", "content": sample["user"]}, {"role": "assistant", "content": reply}]


@dataclass
class AftResult:
    dataset: Path
    manifest: dict[str, Any]
    n_samples: int
    stop_reason: str
    short: dict[str, dict[str, Any]]
    """Levels (and ``samples``: the dataset against n_samples) that ended below target; empty: none."""


def make_dedup(threshold: float | None, embedder: Any) -> Callable[[list[str]], list[int]] | None:
    if threshold is None:
        return None

    def dedup(texts: list[str]) -> list[int]:
        from valuesfirst.data.dedup import near_duplicates

        return near_duplicates(texts, threshold=threshold, embedder=embedder).keep

    return dedup


async def generate_aft(
    spec: Spec,
    config: AftGenConfig,
    client: LLMClient,
    out_dir: Path,
    *,
    spec_path: Path | None = None,
    embedder: Any = None,
    progress: bool = False,
    use_batch: bool = False,
    judge_client: LLMClient | None = None,
) -> AftResult:
    """Run (or resume) the AFT pipeline. ``embedder``: see generate.dedup (default MiniLM, offline).
    ``judge_client``: a separate (usually stronger) judge; None: the generator judges its own samples.
    Raises StageFailed when a level passes the failure threshold (manifest status ``stopped``) and
    InputError when another run holds ``out_dir``. Fewer than n_samples gives status ``short``."""
    with output_lock(Path(out_dir)) as out, open_engine(config.engine, client) as bulk:
        return await _generate(
            spec, config, client, out, spec_path, embedder, progress, use_batch, judge_client, bulk
        )


async def _generate(
    spec: Spec,
    config: AftGenConfig,
    client: LLMClient,
    out_dir: Path,
    spec_path: Path | None,
    embedder: Any,
    progress: bool,
    use_batch: bool,
    judge_client: LLMClient | None,
    bulk: BulkEngine | None,
) -> AftResult:
    spec_text = render(spec, config.variant)
    prompts = aft_prompts(config)
    ctx = AftContext(config, prompts, spec, spec_text)
    model = client.backend.model
    if judge_client is not None:  # a different judge changes which samples survive: part of the key
        model = f"{model}|judge={judge_client.backend.model}"
    store = LevelStore(out_dir, key_base("aft", config, spec_text, prompts, model))
    runner = Runner(
        client,
        store,
        config.failure_threshold,
        progress=progress,
        use_batch=use_batch,
        judge_client=judge_client,
        bulk=bulk,
    )
    dedup = make_dedup(config.dedup_threshold, embedder)
    _, biased = aft_samples.opaque_patterns(ctx)

    record = RunRecord(
        out_dir, "aft", config, spec, spec_path, spec_text, prompts, client, runner.stats, judge_client, bulk
    )

    async def levels() -> tuple[list[Row], int, str]:
        if config.opaque_preferences is not None:
            domains = aft_queries.preference_items(spec, config.seed)
            runner.stats["domains"] = LevelStats(level="domains", kept=len(domains))
        else:
            domains = await aft_queries.domains(ctx, runner)
        return await _rounds(ctx, runner, domains, dedup, biased)

    included, rounds, stop = await record.levels(levels())
    # The first n_samples in round and pool order: a deterministic prefix, then the deterministic order.
    chosen = final_order(included[: config.n_samples], config.seed)
    write_jsonl(out_dir / "samples.jsonl", chosen)
    write_jsonl(out_dir / "dataset_nocot.jsonl", ({"messages": messages(s, cot=False)} for s in chosen))
    files = {"samples": "samples.jsonl", "nocot": "dataset_nocot.jsonl"}
    if config.opaque_preferences is None:
        write_jsonl(out_dir / "dataset_cot.jsonl", ({"messages": messages(s, cot=True)} for s in chosen))
        files["cot"] = "dataset_cot.jsonl"
    dataset = out_dir / "dataset.jsonl"
    write_jsonl(dataset, ({"messages": messages(s, cot=config.cot)} for s in chosen))
    outputs = {
        "dataset": dataset.name,
        **files,
        "n_samples": len(chosen),
        "target": config.n_samples,
        "rounds": rounds,
        "stop_reason": stop,
        "cot_in_dataset": config.cot,
    }
    short = shortfalls(runner.stats, config.target_tolerance)
    if len(chosen) < config.n_samples * (1.0 - config.target_tolerance):
        short["samples"] = samples_shortfall(runner.stats, len(chosen), config.n_samples, stop)
    outputs["short"] = short
    data = record.write("short" if short else "complete", outputs)
    return AftResult(dataset=dataset, manifest=data, n_samples=len(chosen), stop_reason=stop, short=short)


def samples_shortfall(stats: dict[str, LevelStats], kept: int, target: int, stop: str) -> dict[str, Any]:
    """The dataset against n_samples, with what the response and judge rounds lost, summed."""
    lost = LevelStats(level="samples")
    for name, s in stats.items():
        if name.startswith(("responses_r", "judge_r")):
            lost.merge(s)
    examples = {**lost.examples, "stop_reason": f"rounds stopped: {stop}"}
    return {
        "kept": kept,
        "target": target,
        "failed": dict(sorted(lost.failed.items())),
        "dropped": dict(sorted(lost.dropped.items())),
        "examples": dict(sorted(examples.items())),
    }


async def _rounds(
    ctx: AftContext,
    runner: Runner,
    domains: Sequence[Row],
    dedup: Callable[[list[str]], list[int]] | None,
    biased: Any,
) -> tuple[list[Row], int, str]:
    cfg = ctx.config
    pool: list[Row] = []
    used = 0
    included: list[Row] = []
    for round_ in range(cfg.max_rounds):
        gap = cfg.n_samples - len(included)
        need = math.ceil(gap * cfg.oversample)
        if len(pool) - used < need:
            new = await aft_queries.queries(ctx, runner, list(domains), round_)
            pool = aft_queries.extend_pool(runner, pool, new, round_, cfg.seed, dedup, biased)
        chosen = pool[used : used + need]
        used += len(chosen)
        if not chosen:
            return included, round_, "no_new_queries"
        samples = await aft_samples.responses(ctx, runner, chosen, round_)
        kept = await aft_samples.judge(ctx, runner, samples, round_)
        included += kept
        if len(included) >= cfg.n_samples:
            return included, round_ + 1, "target_reached"
        if not kept:
            return included, round_ + 1, "round_added_nothing"
    return included, cfg.max_rounds, "max_rounds"
