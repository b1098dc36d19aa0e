"""``generate midtrain``: spec -> domains -> subdomains -> assertions -> doc types -> ideas -> documents.

Writes into ``out_dir``: ``levels/*.jsonl`` (one checkpoint per level), ``dataset.jsonl`` (one row per
document: ``text``, ``id`` and full provenance), ``manifest.json`` and, with a tokenizer, ``token_stats.json``
and ``length_histogram.png``. Kill it at any moment and rerun the same command: finished levels load from
their checkpoints, finished calls come from ``cache/``, and the result is byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuesfirst.generate import msm_documents, msm_outline
from valuesfirst.generate.config import MidtrainGenConfig
from valuesfirst.generate.engines import BulkEngine, open_engine
from valuesfirst.generate.levels import LevelStore, Row, Runner
from valuesfirst.generate.lock import output_lock
from valuesfirst.generate.manifest import RunRecord, final_order, key_base, shortfalls
from valuesfirst.generate.msm_outline import MsmContext
from valuesfirst.generate.templates import PromptSet, load_prompts
from valuesfirst.jsonl import write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.spec import Spec
from valuesfirst.spec_render import render

MSM_TEMPLATES = ("system", "domains", "subdomains", "assertions", "doc_types", "ideas", "document")
LEVELS = ("domains", "subdomains", "assertions", "doc_types", "ideas", "documents")


def msm_prompts(config: MidtrainGenConfig) -> PromptSet:
    return load_prompts("msm", config.prompt_version, MSM_TEMPLATES, config.prompts_dir)


@dataclass
class MidtrainResult:
    dataset: Path
    manifest: dict[str, Any]
    n_documents: int
    short: dict[str, dict[str, Any]]
    """Levels that ended below their target count (see manifest.shortfalls); empty: none."""


async def generate_midtrain(
    spec: Spec,
    config: MidtrainGenConfig,
    client: LLMClient,
    out_dir: Path,
    *,
    spec_path: Path | None = None,
    progress: bool = False,
    use_batch: bool = False,
) -> MidtrainResult:
    """Run (or resume) every level and write the corpus. Raises StageFailed (after writing a manifest
    with status ``stopped`` and the counts so far) when a level passes the failure threshold, and
    InputError when another run holds ``out_dir``. A level below its target gives status ``short``."""
    with output_lock(Path(out_dir)) as out, open_engine(config.engine, client) as bulk:
        return await _generate(spec, config, client, out, spec_path, progress, use_batch, bulk)


async def _generate(
    spec: Spec,
    config: MidtrainGenConfig,
    client: LLMClient,
    out_dir: Path,
    spec_path: Path | None,
    progress: bool,
    use_batch: bool,
    bulk: BulkEngine | None,
) -> MidtrainResult:
    spec_text = render(spec, config.variant)
    prompts = msm_prompts(config)
    ctx = MsmContext(config, prompts, spec_text, spec.identity.name, spec.identity.developer)
    store = LevelStore(out_dir, key_base("msm", config, spec_text, prompts, client.backend.model))
    threshold = config.failure_threshold
    runner = Runner(client, store, threshold, progress=progress, use_batch=use_batch, bulk=bulk)
    stats = runner.stats
    record = RunRecord(out_dir, "midtrain", config, spec, spec_path, spec_text, prompts, client, stats)
    record.engine = bulk
    docs = await record.levels(_levels(ctx, runner))
    dataset = out_dir / "dataset.jsonl"
    write_jsonl(dataset, final_order(docs, config.seed))
    counts = {level: runner.stats[level].kept for level in LEVELS}
    short = shortfalls(runner.stats, config.target_tolerance)
    outputs = {"dataset": dataset.name, "n_documents": len(docs), "counts": counts, "short": short}
    data = record.write("short" if short else "complete", outputs)
    return MidtrainResult(dataset=dataset, manifest=data, n_documents=len(docs), short=short)


async def _levels(ctx: MsmContext, runner: Runner) -> list[Row]:
    """Every level in order; the documents."""
    domains = await msm_outline.domains(ctx, runner)
    subs = await msm_outline.subdomains(ctx, runner, domains)
    asserts = await msm_outline.assertions(ctx, runner, subs)
    types = await msm_documents.doc_types(ctx, runner, subs)
    ideas = await msm_documents.ideas(ctx, runner, subs, asserts, types)
    return await msm_documents.documents(ctx, runner, subs, asserts, types, ideas)
