"""Training and evaluation stages as module-level jobs, so the scheduler can run them in worker processes.

Each job rebuilds its StageSpec from plain arguments, so the same stage gets the same key whether it runs
in the parent or in a worker, and a finished stage is reused either way. Training goes through the one
stage trainer (train/stage.py), evaluation through the one log-prob scorer (models/logprob.py) or the
registered generation suites, for every model source.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
from pathlib import Path
from typing import Any

from valuesfirst.artifacts import StageResult, StageSpec, StageStore
from valuesfirst.jsonl import read_jsonl, write_json, write_jsonl
from valuesfirst.scheduler import ProgressFn
from valuesfirst.train.encode import Example
from valuesfirst.train.lineage import LINEAGE_FILE, Lineage
from valuesfirst.train.recipe import Recipe
from valuesfirst.train.train_config import ModelSource

DATA_FILES = {"msm": "msm.jsonl", "aft": "aft.jsonl"}


def quiet_libraries() -> None:
    """transformers' per-load progress bars, a dependency's deprecation warning and DeepSpeed's "no GPU"
    warning would drown the stage progress display (they print once per stage in every worker). Runs
    before accelerate is imported."""
    import warnings

    import torch

    if not torch.cuda.is_available():  # DeepSpeed, imported under accelerate, would warn in every process
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # that it "was unable to detect" a GPU
    import transformers

    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


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


def stage_lineage(stage_dir: Path) -> Lineage:
    """The weights a stage folder holds: its lineage.json, or its full ``model/`` folder."""
    if (stage_dir / LINEAGE_FILE).is_file():
        return Lineage.read(stage_dir)
    return Lineage(str(stage_dir / "model"))


def source_key(source: ModelSource) -> dict[str, Any]:
    """The model source as it enters stage keys: without its path (a stage input carries the weights)."""
    return source.model_dump(mode="json", exclude={"path"})


@functools.lru_cache(maxsize=8)
def _examples(data_path: Path, source_json: str) -> dict[str, list[Example]]:
    """Encoded rows of one data file, by row ``kind`` (cached per process: replay is shared by stages)."""
    from valuesfirst.train.lineage import load_tokenizer
    from valuesfirst.train.mixture import encode_rows

    tok, _ = load_tokenizer(ModelSource.model_validate_json(source_json), needs_chat=True)
    by_kind: dict[str, list[dict]] = {}
    for r in read_jsonl(data_path):
        by_kind.setdefault(str(r.get("kind", "data")), []).append(r)
    return {k: encode_rows(tok, v, str(data_path)) for k, v in by_kind.items()}


def train_spec(
    kind: str, recipe: Recipe, source: ModelSource, seed: int, label: str, inputs: dict[str, Path]
) -> StageSpec:
    from valuesfirst.train.lineage import use_bf16

    # The key holds the precision the stage computes in (auto/fast resolved on this machine), so `fast`
    # and `bf16` share stages where they are the same computation and never where they are not.
    config = {**recipe.model_dump(mode="json"), "precision": "bf16" if use_bf16(recipe) else "fp32"}
    return StageSpec(
        kind,
        {"recipe": config, "model": source_key(source)},
        inputs,
        seed=seed,
        label=label,
    )


def _accelerator(recipe: Recipe) -> Any:
    """A single-process accelerator for one experiment stage (CPU, or the one visible GPU)."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from valuesfirst.train.lineage import use_bf16

    AcceleratorState._reset_state(reset_partial_state=True)  # stages of one worker may differ in precision
    return Accelerator(
        mixed_precision="bf16" if use_bf16(recipe) else "no",
        gradient_accumulation_steps=recipe.grad_accum,
        cpu=not torch.cuda.is_available(),
    )


def _train_job_spec(
    kind: str, cfg: Recipe, src: ModelSource, seed: int, label: str, model_stage: str, data_stage: str,
    replay_stage: str | None,
) -> StageSpec:  # fmt: skip
    inputs = {"model": Path(model_stage), "data": Path(data_stage)}
    if replay_stage is not None:
        inputs["replay"] = Path(replay_stage)
    return train_spec(kind, cfg, src, seed, label, inputs)


def train_reused(kwargs: dict[str, Any]) -> dict | None:
    """The result ``train_job(**kwargs)`` would return if its stage is already finished, else None: the
    scheduler asks this in the parent first, so a rerun whose stages all exist starts no worker at all."""
    spec = _train_job_spec(
        kwargs["kind"], Recipe.model_validate(kwargs["recipe"]), ModelSource.model_validate(kwargs["source"]),
        kwargs["seed"], kwargs["label"], kwargs["model_stage"], kwargs["data_stage"], kwargs["replay_stage"],
    )  # fmt: skip
    found = StageStore(Path(kwargs["run_dir"])).find(spec)
    return None if found is None else stage_summary(found, kwargs["kind"], kwargs["label"])


def train_job(
    run_dir: str,
    kind: str,
    recipe: dict,
    source: dict,
    seed: int,
    label: str,
    model_stage: str,
    data_stage: str,
    replay_stage: str | None,
    checkpoint_every: int = 0,
    progress: ProgressFn | None = None,
) -> dict:
    """Continue training the model of ``model_stage`` on ``data_stage`` (+ replay) as one stage."""
    cfg = Recipe.model_validate(recipe)
    src = ModelSource.model_validate(source)
    model_p, data_p = Path(model_stage), Path(data_stage)
    spec = _train_job_spec(kind, cfg, src, seed, label, model_stage, data_stage, replay_stage)
    store = StageStore(Path(run_dir))
    final = store.path_for(spec)
    work = Path(run_dir) / "work" / final.name

    def build(out: Path) -> dict:
        quiet_libraries()
        from valuesfirst.train.checkpoint import latest_checkpoint, read_state
        from valuesfirst.train.data import stage_rows
        from valuesfirst.train.lineage import load_tokenizer, use_bf16
        from valuesfirst.train.metrics import MetricsSink
        from valuesfirst.train.mixture import mixed_rows
        from valuesfirst.train.stage import StageContext, StageJob, train_stage

        source_json = src.model_dump_json()
        sources = dict(_examples(data_p / DATA_FILES[kind], source_json))
        if replay_stage is not None:
            sources.update(_examples(Path(replay_stage) / "replay.jsonl", source_json))
        if cfg.mix is not None:
            steps = cfg.stage_steps(0, 1)
            rows = mixed_rows(sources, cfg.mix, steps * cfg.batch_size * cfg.grad_accum, cfg.seq_len, seed)
        else:  # every example of the stage's own data, once per epoch
            own = [e for k, v in sources.items() if k != "replay" for e in v]
            random.Random(seed).shuffle(own)
            rows = stage_rows(own, cfg.seq_len, cfg.packing)
        tokenizer, added = load_tokenizer(src, needs_chat=True)
        acc = _accelerator(cfg)
        pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
        config_json = {"recipe": cfg.model_dump(mode="json"), "model": src.model_dump(mode="json")}
        ctx = StageContext(
            accelerator=acc, tokenizer=tokenizer, added_tokens=added, pad_id=pad_id, bf16=use_bf16(cfg),
            sink=MetricsSink(out, "none", config_json, enabled=False), log=lambda line: None,
            config_json=config_json, log_every=max(1, cfg.stage_steps(len(rows), 1) // 10), on_step=progress,
        )  # fmt: skip
        ckpt = latest_checkpoint(work) if checkpoint_every else None
        job = StageJob(
            index=0, kind=kind, recipe=cfg, source=src, parent=stage_lineage(model_p), rows=rows,
            data_seed=seed, init_seed=seed, out=out, final_dir=final, checkpoint_dir=work,
            checkpoint_every=checkpoint_every,
            resume_from=ckpt if ckpt is not None and read_state(ckpt)["stage"] == 0 else None,
        )  # fmt: skip
        _, summary = train_stage(job, ctx)
        # Only deterministic files in a stage (a rerun is byte-identical); timings go to the manifest.
        write_json(out / "history.json", {"loss": summary["loss"], "lr": summary["lr"]})
        keep = ("steps", "loss_first", "loss_last", "tokens", "target_tokens", "seconds", "tokens_per_s")
        return {k: summary[k] for k in keep} | {"packing_efficiency": summary["packing_efficiency"]}

    result = store.run(spec, build)
    shutil.rmtree(work, ignore_errors=True)  # checkpoints of a published stage are never needed again
    return stage_summary(result, kind, label)


def _eval_job_spec(
    model_stage: str, src: ModelSource, suite: dict, items: str | None, label: str, spec_file: str | None
) -> tuple[StageSpec, Any]:
    from valuesfirst.experiment.evals import EvalConfig

    suite_cfg = EvalConfig.model_validate({"suites": [suite]}).suites[0]
    inputs = {"model": Path(model_stage)} | ({"items": Path(items)} if items is not None else {})
    if spec_file is not None:
        inputs["spec"] = Path(spec_file)
    spec = StageSpec(
        "eval", {"suite": suite_cfg.model_dump(mode="json"), "model": source_key(src)}, inputs, label=label
    )
    return spec, suite_cfg


def eval_reused(kwargs: dict[str, Any]) -> dict | None:
    """Like :func:`train_reused`, for :func:`eval_job`."""
    src = ModelSource.model_validate(kwargs["source"])
    spec, _ = _eval_job_spec(
        kwargs["model_stage"], src, kwargs["suite"], kwargs["items"], kwargs["label"], kwargs.get("spec_file")
    )
    found = StageStore(Path(kwargs["run_dir"])).find(spec)
    return None if found is None else stage_summary(found, "eval", kwargs["label"])


def eval_job(
    run_dir: str,
    model_stage: str,
    source: dict,
    suite: dict,
    items: str | None,
    label: str,
    spec_file: str | None = None,
    threads: int | None = None,
    progress: ProgressFn | None = None,
) -> dict:
    """Evaluate the model of ``model_stage`` on one suite (see experiment/evals.py); ``spec_file``: the spec
    a suite grades against; ``threads``: torch CPU threads (default: torch's choice)."""
    src = ModelSource.model_validate(source)
    spec, suite_cfg = _eval_job_spec(model_stage, src, suite, items, label, spec_file)
    model_p = Path(model_stage)
    cache = Path(run_dir) / "work" / "llm-cache"

    def build(out: Path) -> dict:
        quiet_libraries()
        if threads:
            import torch

            torch.set_num_threads(threads)  # workers x threads = the cores: never oversubscribed
        from valuesfirst.experiment.evaluate import run_suite

        lineage = stage_lineage(model_p)
        items_p, spec_p = Path(items) if items else None, Path(spec_file) if spec_file else None
        return run_suite(suite_cfg, src, lineage, items_p, out, cache, spec_p)

    return stage_summary(StageStore(Path(run_dir)).run(spec, build), "eval", label)


def write_rates(out: Path, scored: list[dict], rates: dict) -> None:
    write_jsonl(out / "scores.jsonl", scored)
    write_json(out / "rates.json", rates)
