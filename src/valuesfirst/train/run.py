"""`valuesfirst train`: the stages of an ordering on one base model, on CPU, one GPU or many.

The one-ordering case of the experiment engine: each stage goes through stage.train_stage with the run's
recipe, exactly as an experiment's stages do. What this module adds is the run around them: the
accelerator for `accelerate launch`/`torchrun`, the data files checked before any weights load, stage
folders ``{i}-{kind}`` under ``output_dir``, the model carried in memory from one stage to the next, and
resumable checkpoints (removed once the run has finished, unless ``keep_checkpoints``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import sha256_file, write_json
from valuesfirst.models.context import check_lengths, context_length
from valuesfirst.provenance import provenance, redact
from valuesfirst.train.checkpoint import checkpoint_root, latest_checkpoint, read_state
from valuesfirst.train.data import load_stage_data, stage_examples, stage_rows
from valuesfirst.train.lineage import Lineage, load_tokenizer, use_bf16
from valuesfirst.train.metrics import MetricsSink, peak_flops
from valuesfirst.train.sharded import (
    check_backend_active,
    check_backend_installed,
    check_zero3_init,
    device_kwargs,
)
from valuesfirst.train.stage import StageContext, StageJob, train_stage, write_stage_summary
from valuesfirst.train.train_config import TrainConfig


def check_seq_len(model_ref: str, seq_len: int, trust_remote_code: bool, tokenizer: Any) -> None:
    """``seq_len`` must fit the model's context (read from its config, no weights loaded)."""
    from transformers import AutoConfig

    from valuesfirst.models.refs import resolve_model_ref

    try:
        config = AutoConfig.from_pretrained(resolve_model_ref(model_ref), trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return  # the weights loader reports an unreadable model with its own error
    limit = context_length(config, tokenizer)
    check_lengths([("row length", seq_len)], limit, "recipe.seq_len: the", field="recipe.seq_len")


def run_training(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage not yet finished in ``cfg.output_dir``; returns the run summary.

    Raises InputError (before any training step) for a model path that does not exist, data with wrong
    fields or a chat without an assistant turn, a seq_len longer than the model's context, and LoRA
    targets the model lacks.
    """
    from accelerate import Accelerator

    check_backend_installed()  # a DeepSpeed config without deepspeed fails here, before anything loads
    data = load_stage_data(cfg.data)  # field checks before any weights are loaded
    recipe = cfg.recipe
    bf16 = use_bf16(recipe)
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        from accelerate.state import AcceleratorState

        # One process, several runs (a notebook, tests, a benchmark): each run chooses its own precision.
        AcceleratorState._reset_state(reset_partial_state=True)
    acc = Accelerator(
        mixed_precision="bf16" if bf16 else "no",
        gradient_accumulation_steps=recipe.grad_accum,
        **device_kwargs(),
    )
    check_backend_active(acc)  # FSDP/DeepSpeed asked for but not set up: refuse rather than run DDP
    check_zero3_init(acc)
    main, world, rank = acc.is_main_process, acc.num_processes, acc.process_index
    out = cfg.output_dir
    stage_dirs = [out / f"{i}-{kind}" for i, kind in enumerate(cfg.stages)]
    tokenizer, added = load_tokenizer(cfg.model, any(k != "msm" for k in cfg.stages))
    if cfg.model.tiny is None:
        check_seq_len(cfg.model.path, recipe.seq_len, cfg.model.trust_remote_code, tokenizer)
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    # Every stage's examples are encoded before training, so a chat the template cannot mask fails now.
    rows_by_stage = [
        stage_rows(
            stage_examples(k, data, tokenizer, cfg.data.it_fraction, cfg.seed + i),
            recipe.seq_len,
            recipe.packing,
        )
        for i, k in enumerate(cfg.stages)
    ]
    for i, rows in enumerate(rows_by_stage):
        if not rows:
            raise InputError([Problem(None, None, f"data ({cfg.stages[i]})", "no example has a target")])
    config_json = redact(cfg.model_dump(mode="json"))
    data_hashes = {str(p): sha256_file(p) for p in [*cfg.data.msm, *cfg.data.aft, *cfg.data.it]}
    if main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(
            out / "train_config.json",
            {
                "config": config_json,
                "data_sha256": data_hashes,
                "world_size": world,
                "bf16": bf16,
                "provenance": provenance(),
            },
        )
    start = next((i for i, d in enumerate(stage_dirs) if not (d / "summary.json").is_file()), len(stage_dirs))
    ckpt = latest_checkpoint(out) if cfg.resume else None
    resume = ckpt if ckpt is not None and read_state(ckpt)["stage"] == start else None
    ctx = StageContext(
        accelerator=acc, tokenizer=tokenizer, added_tokens=added, pad_id=pad_id, bf16=bf16,
        sink=MetricsSink(out, cfg.report_to, config_json, enabled=main), log=log, config_json=config_json,
        log_every=cfg.log_every, peak_flops=peak_flops(acc.device, bf16),
    )  # fmt: skip
    init = Lineage(cfg.model.path, (str(recipe.lora.init_adapter),) if recipe.lora.init_adapter else ())
    parent = init if start == 0 else Lineage.read(stage_dirs[start - 1])
    model: Any = None
    full_digest: str | None = None
    seen: dict[int, list[int]] = {}
    lora_continues = recipe.finetune == "lora" and recipe.lora.continue_adapter
    for i in range(start, len(cfg.stages)):
        last = i == len(cfg.stages) - 1
        job = StageJob(
            index=i, kind=cfg.stages[i], recipe=recipe, source=cfg.model, parent=parent,
            rows=rows_by_stage[i], data_seed=cfg.seed + i, init_seed=cfg.seed + i, out=stage_dirs[i],
            save_merged=cfg.save_merged, carry_adapter=lora_continues and not last,
            checkpoint_dir=out, checkpoint_every=cfg.checkpoint_every,
            resume_from=resume if i == start else None, previous=model if i > start else None,
            check_isolation=i == start,
        )  # fmt: skip
        model, summary = train_stage(job, ctx)
        seen[i], full_digest = summary["rows_seen"], summary["full_digest"]
        if main:
            write_stage_summary(
                stage_dirs[i], summary, config_json, seed=cfg.seed, data_sha256=data_hashes
            )
        acc.wait_for_everyone()
        parent = Lineage.read(stage_dirs[i]) if main or (stage_dirs[i] / "lineage.json").is_file() else parent
    if world > 1 and start < len(cfg.stages):
        write_json(
            out / "ranks" / f"rank{rank}.json", {"rank": rank, "final_digest": full_digest, "rows_seen": seen}
        )
    ctx.sink.close()
    if main and not cfg.keep_checkpoints and all((d / "summary.json").is_file() for d in stage_dirs):
        shutil.rmtree(checkpoint_root(out), ignore_errors=True)  # a finished run needs no resume point
    return {
        "output_dir": str(out),
        "stages": [str(d) for d in stage_dirs],
        "world_size": world,
        "summaries": [_read_summary(d) for d in stage_dirs],
    }


def _read_summary(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / "summary.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: data[k] for k in ("kind", "steps", "loss_first", "loss_final", "tokens_per_s") if k in data}
