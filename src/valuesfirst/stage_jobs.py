"""Training and evaluation stages as module-level jobs, so the scheduler can run them in worker processes.

Each job rebuilds its StageSpec from plain arguments, so the same stage gets the same key whether it
runs in the parent or in a worker, and a finished stage is reused either way.
"""

from __future__ import annotations

import functools
from pathlib import Path

from valuesfirst.artifacts import StageResult, StageSpec, StageStore
from valuesfirst.jsonl import read_jsonl, write_json, write_jsonl
from valuesfirst.models.load import load_model
from valuesfirst.models.logprob import score_items, set_rates
from valuesfirst.scheduler import ProgressFn
from valuesfirst.train.encode import Example
from valuesfirst.train.mixture import encode_rows
from valuesfirst.train.stage_train import StageTrainConfig, run_train_stage
from valuesfirst.world.build import sample_replay

DATA_FILES = {"msm": "msm.jsonl", "aft": "aft.jsonl"}


@functools.lru_cache(maxsize=8)
def _examples(data_path: Path, tokenizer_dir: Path, replay_docs: int) -> dict[str, list[Example]]:
    """Encoded training sources of one data file, by row ``kind`` (cached per process: replay is shared)."""
    _, tok = load_model(tokenizer_dir)
    if data_path.name == "pretrain.jsonl":
        rows = sample_replay(data_path.parent, replay_docs, seed=0)
        return {"replay": encode_rows(tok, rows, str(data_path))}
    by_kind: dict[str, list[dict]] = {}
    for r in read_jsonl(data_path):
        by_kind.setdefault(str(r.get("kind", "data")), []).append(r)
    return {k: encode_rows(tok, v, str(data_path)) for k, v in by_kind.items()}


def stage_summary(res: StageResult, kind: str, label: str) -> dict:
    """What the runner logs and reads back of a finished stage (plain data, so it crosses processes)."""
    return {
        "path": str(res.path),
        "key": res.key,
        "reused": res.reused,
        "kind": kind,
        "label": label,
        "duration_s": res.manifest.get("duration_s"),
    }


def train_spec(
    kind: str,
    cfg: StageTrainConfig,
    seed: int,
    label: str,
    model_stage: Path,
    data_stage: Path,
    world_stage: Path,
    replay_docs: int,
) -> StageSpec:
    return StageSpec(
        kind,
        {**cfg.model_dump(), "replay_docs": replay_docs},
        {"model": model_stage, "data": data_stage, "world": world_stage},
        seed=seed,
        label=label,
    )


def train_job(
    run_dir: str,
    kind: str,
    cfg: dict,
    seed: int,
    label: str,
    model_stage: str,
    data_stage: str,
    world_stage: str,
    base_stage: str,
    replay_docs: int,
    progress: ProgressFn | None = None,
) -> dict:
    """Continue training the model of ``model_stage`` on ``data_stage`` (+ replay) as one stage."""
    config = StageTrainConfig.model_validate(cfg)
    model_p, data_p, world_p, base_p = (
        Path(model_stage),
        Path(data_stage),
        Path(world_stage),
        Path(base_stage),
    )
    spec = train_spec(kind, config, seed, label, model_p, data_p, world_p, replay_docs)

    def build(out: Path) -> dict:
        tok_dir = base_p / "model"
        sources = {
            **_examples(data_p / DATA_FILES[kind], tok_dir, replay_docs),
            **_examples(world_p / "pretrain.jsonl", tok_dir, replay_docs),
        }
        return run_train_stage(model_p / "model", sources, config, seed, out / "model", on_step=progress)

    return stage_summary(StageStore(Path(run_dir)).run(spec, build), kind, label)


def eval_job(
    run_dir: str, model_stage: str, items_stage: str, label: str, progress: ProgressFn | None = None
) -> dict:
    """Score the forced-choice items with the model of ``model_stage`` (transcript: scores.jsonl)."""
    model_p, items_p = Path(model_stage), Path(items_stage)

    def build(out: Path) -> dict:
        model, tok = load_model(model_p / "model")
        scored = score_items(model, tok, read_jsonl(items_p / "eval.jsonl"))
        write_jsonl(out / "scores.jsonl", scored)
        rates = set_rates(scored)
        write_json(out / "rates.json", rates)
        return {"rates": rates}

    spec = StageSpec(
        "eval", {"scorer": "logprob_forced_choice"}, {"model": model_p, "items": items_p}, label=label
    )
    return stage_summary(StageStore(Path(run_dir)).run(spec, build), "eval", label)
