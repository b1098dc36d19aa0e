"""`valuesfirst train`: the stages of an ordering on a real base model, on CPU, one GPU or many.

Built on accelerate (device placement, DDP, FSDP, DeepSpeed; `accelerate launch` and `torchrun` run the
same command), PEFT (LoRA) and transformers (models, chat templates). The optimisation loop is
loop.train_steps, the one the embedded demo uses, and the collator is collate.pack rather than TRL's
SFTTrainer: on CPU, TRL's default packing builds one 4,096-token row with quadratic attention and ran 4.5x
slower than no packing in our measurement, while collate.pack fills rows of `seq_len` with examples that
each attend only to themselves, and the assistant masks close every turn with its end-of-turn token
(checked token by token in tests). benchmarks/train_cpu_vs_trl.md compares the two on the same data.
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import sha256_file, write_json
from valuesfirst.provenance import provenance, redact
from valuesfirst.train.checkpoint import latest_checkpoint, load_optimizer, load_trainable, read_state
from valuesfirst.train.collate import PackedRow, assert_packing_isolated, packing_efficiency
from valuesfirst.train.data import load_stage_data, stage_examples, stage_rows
from valuesfirst.train.loop import (
    OptimConfig,
    TrainHistory,
    lr_factor,
    make_optimizer,
    train_steps,
)
from valuesfirst.train.lora import state_digest, trainable_state
from valuesfirst.train.metrics import MetricsSink, peak_flops, train_flops_per_token
from valuesfirst.train.outputs import save_stage_outputs
from valuesfirst.train.schedule import BatchPlan, stage_steps
from valuesfirst.train.setup import load_tokenizer, stage_start_model, weights_dtype
from valuesfirst.train.sharded import (
    check_backend_active,
    check_backend_installed,
    check_zero3_init,
    configure_deepspeed,
    device_kwargs,
    full_state,
    is_sharded,
    load_optimizer_state,
    load_trainable_full,
    whole_models,
)
from valuesfirst.train.step_hook import StepHook
from valuesfirst.train.train_config import TrainConfig


def use_bf16(cfg: TrainConfig) -> bool:
    if cfg.precision == "auto":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return cfg.precision == "bf16"


def run_training(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every stage not yet finished in ``cfg.output_dir``; returns the run summary.

    Raises InputError (before any training step) for a model path that does not exist, data with wrong
    fields or a chat without an assistant turn, and LoRA targets the model lacks.
    """
    from accelerate import Accelerator

    check_backend_installed()  # a DeepSpeed config without deepspeed fails here, before anything loads
    data = load_stage_data(cfg.data)  # field checks before any weights are loaded
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bf16 = use_bf16(cfg)
    acc = Accelerator(
        mixed_precision="bf16" if bf16 else "no",
        gradient_accumulation_steps=cfg.grad_accum,
        **device_kwargs(),
    )
    check_backend_active(acc)  # FSDP/DeepSpeed asked for but not set up: refuse rather than run DDP
    check_zero3_init(acc)
    sharded = is_sharded(acc)
    main, world, rank = acc.is_main_process, acc.num_processes, acc.process_index
    out = cfg.output_dir
    stage_dirs = [out / f"{i}-{kind}" for i, kind in enumerate(cfg.stages)]
    tokenizer, added = load_tokenizer(cfg, any(k != "msm" for k in cfg.stages))
    pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    # Every stage's examples are encoded before training, so a chat the template cannot mask fails now.
    rows_by_stage = [
        stage_rows(
            stage_examples(k, data, tokenizer, cfg.data.it_fraction, cfg.seed + i), cfg.seq_len, cfg.packing
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
    sink = MetricsSink(out, cfg.report_to, config_json, enabled=main)
    device_peak = peak_flops(acc.device, bf16)
    model: Any = None
    full_digest: str | None = None
    seen: dict[int, list[int]] = {}
    for i in range(start, len(cfg.stages)):
        kind, rows = cfg.stages[i], rows_by_stage[i]
        with whole_models(acc):
            model = stage_start_model(
                cfg,
                tokenizer,
                added,
                i,
                stage_dirs,
                weights_dtype(cfg, bf16),
                previous=model if i > start else None,
            )
            if cfg.packing and i == start:
                assert_packing_isolated(model)  # packed examples must never attend to each other
        acc.free_memory()
        gc.collect()
        model.train()
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        start_digest = state_digest(trainable_state(model))  # before prepare shards it
        steps = stage_steps(len(rows), cfg, world)
        r = cfg.recipe
        optim = OptimConfig(
            lr=r.lr,
            warmup_steps=math.ceil(r.warmup_ratio * steps),
            schedule=r.schedule,
            min_lr_ratio=r.min_lr_ratio,
            weight_decay=r.weight_decay,
            betas=r.betas,
            grad_clip=r.grad_clip,
        )
        configure_deepspeed(acc, cfg.batch_size, cfg.grad_accum, r.grad_clip)
        # Model and optimizer go through prepare together: FSDP2 and DeepSpeed require it.
        prepared, optimizer = acc.prepare(model, make_optimizer(model, optim))
        unwrapped = acc.unwrap_model(prepared)
        hist, first = TrainHistory(), 0
        if resume is not None and i == start:
            state = read_state(resume)
            load_trainable_full(acc, prepared, load_trainable(resume, names))
            load_optimizer_state(acc, prepared, optimizer, load_optimizer(resume), resume)
            first, hist.loss, hist.steps, hist.lr = state["step"], state["loss"], state["steps"], state["lr"]
            hist.tokens, hist.target_tokens = state["tokens"], state["target_tokens"]
            log(f"resumed stage {i} ({kind}) at step {first} from {resume}")
        plan = BatchPlan(len(rows), cfg.batch_size, cfg.grad_accum, world, rank, cfg.seed + i)
        seen[i] = []
        hook = StepHook(
            stage=i, kind=kind, steps=steps, hist=hist, model=prepared, optimizer=optimizer,
            trainable_names=names,
            accelerator=acc, sink=sink, log=log, output_dir=out, config=config_json,
            log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
            flops_per_token=train_flops_per_token(unwrapped, _mean_segment(rows), cfg.finetune == "lora"),
            peak_flops=device_peak,
        )  # fmt: skip
        train_steps(
            prepared,
            plan.batches(rows, first, seen[i]),
            optimizer,
            functools.partial(_lr_at, total=steps, optim=optim),
            steps - first,
            pad_id,
            start_step=first,
            grad_clip=r.grad_clip,
            history=hist,
            on_step=hook,
            accelerator=acc,
            grad_accum=cfg.grad_accum,
        )
        acc.wait_for_everyone()
        # Sharded: one gathered state dict (main process) serves digests and saving.
        gathered = full_state(acc, prepared) if sharded else None
        if gathered is not None:
            end_digest = state_digest({k: v for k, v in gathered.items() if k in names})
            full_digest = state_digest(gathered) if main else None
        else:  # all weights, frozen ones included: what DDP ranks must agree on
            end_digest = state_digest(trainable_state(unwrapped))
            full_digest = state_digest({n: p for n, p in unwrapped.named_parameters()})
        dtype = weights_dtype(cfg, bf16)
        with whole_models(acc):  # a LoRA stage's merge loads the base model again, on the main process
            model = save_stage_outputs(unwrapped, tokenizer, cfg, i, stage_dirs, main, dtype, gathered)
        if main:
            summary = {
                "stage": i,
                "kind": kind,
                "rows": len(rows),
                "steps_planned": steps,
                "loss_final": hist.loss[-1],
                **hist.summary(),
                "packing_efficiency": round(packing_efficiency(rows, cfg.seq_len), 4),
                "start_digest": start_digest,
                "end_digest": end_digest,
                "seed": cfg.seed,
                "config": config_json,
                "data_sha256": data_hashes,
                "provenance": provenance(),
            }
            write_json(stage_dirs[i] / "summary.json", summary)
        acc.wait_for_everyone()
        del prepared, optimizer, unwrapped, gathered
    if world > 1 and start < len(cfg.stages):  # model is None after a sharded run
        write_json(
            out / "ranks" / f"rank{rank}.json", {"rank": rank, "final_digest": full_digest, "rows_seen": seen}
        )
    sink.close()
    return {
        "output_dir": str(out),
        "stages": [str(d) for d in stage_dirs],
        "world_size": world,
        "summaries": [_read_summary(d) for d in stage_dirs],
    }


def _lr_at(step: int, total: int, optim: OptimConfig) -> float:
    return optim.lr * lr_factor(step, total, optim)


def _mean_segment(rows: list[PackedRow]) -> float:
    n_segments = sum(max(r.segment_ids) + 1 for r in rows)
    return sum(len(r) for r in rows) / max(1, n_segments)


def _read_summary(stage_dir: Path) -> dict[str, Any] | None:
    import json

    path = stage_dir / "summary.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: data[k] for k in ("kind", "steps", "loss_first", "loss_final", "tokens_per_s") if k in data}
