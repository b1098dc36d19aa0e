"""Data stages: each source writes the same files, whatever it is (see experiment/sources.py).

* ``msm_data[label]`` → ``msm.jsonl``: documents (``text``, ``kind: msm``) teaching spec ``label``;
* ``aft_data`` → ``aft.jsonl``: chats (``messages``, ``kind``: ``preference``/``fact`` from the world,
  ``aft`` or the row's own ``kind`` from files and generation);
* ``replay`` → ``replay.jsonl``: documents or chats (``kind: replay``) a stage's ``mix`` may draw on.

Generation runs in a stable work folder (``RUN/work/<kind>-<key>``) rather than the stage's temp folder,
so a killed run resumes from its checkpointed levels and cached calls; the finished dataset is copied into
the stage and the work folder is removed.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuesfirst.experiment.sources import (
    GenerateAft,
    GenerateCommon,
    GenerateMsm,
    JsonlAft,
    JsonlMsm,
    JsonlReplay,
    RenderAft,
    RenderMsm,
    RenderReplay,
    WorldAft,
    WorldMsm,
    WorldReplay,
)
from valuesfirst.jsonl import read_jsonl, write_jsonl
from valuesfirst.train.data_check import read_checked

Log = Callable[[str], None]


class GenerationIncomplete(Exception):
    """A generation stage stopped (failure threshold) or ended short of its target: nothing is published,
    and a rerun asks again only the calls that failed (their answers were not cached)."""

    def __init__(self, kind: str, work: Path, message: str, code: int) -> None:
        super().__init__(f"{kind} generation in {work}: {message}")
        self.code = code


def _tagged(rows: list[dict[str, Any]], kind: str, keep_kind: bool = False) -> list[dict[str, Any]]:
    return [{**r, "kind": str(r.get("kind", kind)) if keep_kind else kind} for r in rows]


def build_msm(
    source: Any, label: str, spec_path: Path, world_cfg: Any, work: Path, out: Path, log: Log
) -> dict:
    if isinstance(source, WorldMsm):
        from valuesfirst.world import build as wb

        return wb.build_msm_stage(world_cfg, spec_path, source.docs, 0, out)
    if isinstance(source, JsonlMsm):
        rows = read_checked(source.files[label], ("text",), f"data.msm.files.{label}")
    elif isinstance(source, RenderMsm):
        from valuesfirst.render import render_documents
        from valuesfirst.spec import load_spec

        rows = render_documents(load_spec(spec_path), source.docs, source.seed)
    else:
        assert isinstance(source, GenerateMsm)
        rows = read_jsonl(_generate("msm", source, spec_path, work, log))
    return {"documents": write_jsonl(out / "msm.jsonl", _tagged(rows, "msm"))}


def build_aft(source: Any, spec_path: Path, world_cfg: Any, work: Path, out: Path, log: Log) -> dict:
    if isinstance(source, WorldAft):
        from valuesfirst.world import build as wb

        return wb.build_aft_stage(world_cfg, spec_path, source.fact_chats, 0, out)
    if isinstance(source, JsonlAft):
        rows = read_checked(source.files, ("messages",), "data.aft.files")
        rows = _tagged(rows, "aft", keep_kind=True)
    elif isinstance(source, RenderAft):
        from valuesfirst.render import render_aft_chats
        from valuesfirst.spec import load_spec

        rows = _tagged(render_aft_chats(load_spec(spec_path), source.chats, source.seed), "aft")
    else:
        assert isinstance(source, GenerateAft)
        rows = _tagged(read_jsonl(_generate("aft", source, spec_path, work, log)), "aft")
    kinds: dict[str, int] = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    return {"rows": write_jsonl(out / "aft.jsonl", rows), "kinds": kinds}


def build_replay(source: Any, world_stage: Path | None, out: Path) -> dict:
    if isinstance(source, WorldReplay):
        from valuesfirst.world.build import sample_replay

        assert world_stage is not None
        rows = sample_replay(world_stage, source.docs, seed=0)
    elif isinstance(source, RenderReplay):
        from valuesfirst.render import it_chats

        rows = it_chats(source.chats, source.seed)
    else:
        assert isinstance(source, JsonlReplay)
        rows = read_checked(source.files, ("text", "messages"), "data.replay.files")
        if source.docs is not None and source.docs < len(rows):
            rows = random.Random(0).sample(rows, source.docs)
    return {"rows": write_jsonl(out / "replay.jsonl", _tagged(rows, "replay"))}


def generation_config(kind: str, source: GenerateCommon) -> Any:
    """The generate config of a source (its YAML, then its overrides), validated."""
    from valuesfirst.generate.config import AftGenConfig, MidtrainGenConfig, load_gen_config

    cls = MidtrainGenConfig if kind == "msm" else AftGenConfig
    flat: dict[str, object] = {}

    def walk(prefix: str, tree: dict[str, Any]) -> None:
        for k, v in tree.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", source.overrides)
    return load_gen_config(source.config, cls, flat)


def backend_for(uri: str, base_url: str | None, api_key_env: str | None) -> Any:
    """A backend from its URI; a missing key or an unknown scheme is an InputError before any call."""
    if uri == "fake" or uri.startswith("fake:"):
        from valuesfirst.generate.fake import fake_backend

        return fake_backend(model=uri.partition(":")[2] or "fake")
    from valuesfirst.llm.factory import backend_from_uri

    return backend_from_uri(uri, base_url=base_url, api_key_env=api_key_env)


def _generate(kind: str, source: GenerateCommon, spec_path: Path, work: Path, log: Log) -> Path:
    """Run (or resume) generation into ``work``; return its dataset file."""
    from valuesfirst.llm.client import ClientConfig, LLMClient
    from valuesfirst.spec import load_spec

    cfg = generation_config(kind, source)
    spec = load_spec(spec_path)
    backend = backend_for(source.backend, source.base_url, source.api_key_env)
    judge_uri = getattr(source, "judge_backend", None)
    judge_backend = backend_for(judge_uri, source.base_url, source.api_key_env) if judge_uri else None
    client_cfg = ClientConfig(concurrency=source.concurrency, cache_dir=work / "cache")
    log(f"generating {kind} data with {source.backend} in {work} (resumable)")

    async def main() -> tuple[Path, dict[str, Any]]:
        client = LLMClient(backend, client_cfg)
        judge = LLMClient(judge_backend, client_cfg) if judge_backend is not None else None
        try:
            if kind == "msm":
                from valuesfirst.generate.msm import generate_midtrain

                res = await generate_midtrain(spec, cfg, client, work, spec_path=spec_path)
                return res.dataset, res.short
            from valuesfirst.generate.aft import generate_aft

            result = await generate_aft(spec, cfg, client, work, spec_path=spec_path, judge_client=judge)
            return result.dataset, result.short
        finally:
            await client.aclose()
            if judge is not None:
                await judge.aclose()

    from valuesfirst.generate.level_stats import StageFailed
    from valuesfirst.generate.manifest import shortfall_text
    from valuesfirst.provenance import redact_text

    try:
        dataset, short = asyncio.run(main())
    except StageFailed as e:
        raise GenerationIncomplete(kind, work, f"stopped: {redact_text(str(e))}", 1) from None
    if short:  # never train on a corpus that silently came out smaller than configured
        raise GenerationIncomplete(kind, work, "short of target:\n" + redact_text(shortfall_text(short)), 3)
    return dataset


def remove_work(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
