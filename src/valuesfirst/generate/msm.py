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
from valuesfirst.generate.levels import LevelStore, Row, Runner
from valuesfirst.generate.manifest import RunRecord, final_order, key_base
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
    with status ``stopped`` and the counts so far) when a level passes the failure threshold."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec_text = render(spec, config.variant)
    prompts = msm_prompts(config)
    ctx = MsmContext(config, prompts, spec_text, spec.identity.name, spec.identity.developer)
    store = LevelStore(out_dir, key_base("msm", config, spec_text, prompts, client.backend.model))
    runner = Runner(client, store, config.failure_threshold, progress=progress, use_batch=use_batch)
    record = RunRecord(out_dir, "midtrain", config, spec, spec_path, spec_text, prompts, client, runner.stats)
    docs = await record.levels(_levels(ctx, runner))
    dataset = out_dir / "dataset.jsonl"
    write_jsonl(dataset, final_order(docs, config.seed))
    counts = {level: runner.stats[level].kept for level in LEVELS}
    data = record.write("complete", {"dataset": dataset.name, "n_documents": len(docs), "counts": counts})
    return MidtrainResult(dataset=dataset, manifest=data, n_documents=len(docs))


async def _levels(ctx: MsmContext, runner: Runner) -> list[Row]:
    """Every level in order; the documents."""
    domains = await msm_outline.domains(ctx, runner)
    subs = await msm_outline.subdomains(ctx, runner, domains)
    asserts = await msm_outline.assertions(ctx, runner, subs)
    types = await msm_documents.doc_types(ctx, runner, subs)
    ideas = await msm_documents.ideas(ctx, runner, subs, asserts, types)
    return await msm_documents.documents(ctx, runner, subs, asserts, types, ideas)
