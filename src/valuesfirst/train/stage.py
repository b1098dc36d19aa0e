"""The one stage trainer: an MSM, AFT or mixed stage on any causal LM, for `valuesfirst train` and every
experiment stage (the embedded world's tiny model, SmolLM2, a hub model on many GPUs).

Built on accelerate (device placement, DDP, FSDP, DeepSpeed; `accelerate launch` and `torchrun` run the
same command; on one CPU it is a plain loop), PEFT (LoRA) and transformers (models, chat templates). The
optimisation loop is loop.train_steps and the collator collate.pack rather than TRL's SFTTrainer: packed
rows of `seq_len` whose examples each attend only to themselves, assistant masks that close every turn with
its end-of-turn token (checked token by token in tests), and every target token of a step weighted the
same across micro-batches and ranks. benchmarks/train_cpu_vs_trl.md compares the two on the same data.
"""

from __future__ import annotations

import functools
import gc
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from valuesfirst.jsonl import write_json
from valuesfirst.provenance import provenance
from valuesfirst.train.checkpoint import load_optimizer, load_trainable, read_state
from valuesfirst.train.collate import PackedRow, assert_packing_isolated, packing_efficiency
from valuesfirst.train.lineage import (
    Lineage,
    child_lineage,
    continue_from,
    start_mode,
    start_model,
    weights_dtype,
)
from valuesfirst.train.loop import OptimConfig, TrainHistory, batches, lr_factor, make_optimizer, train_steps
from valuesfirst.train.lora import state_digest, trainable_state
from valuesfirst.train.metrics import MetricsSink, train_flops_per_token
from valuesfirst.train.outputs import save_stage_outputs
from valuesfirst.train.recipe import Recipe
from valuesfirst.train.schedule import BatchPlan
from valuesfirst.train.sharded import (
    configure_deepspeed,
    full_state,
    is_sharded,
    load_optimizer_state,
    load_trainable_full,
    whole_models,
)
from valuesfirst.train.step_hook import StepHook
from valuesfirst.train.train_config import ModelSource


@dataclass
class StageJob:
    """One stage to train.

    rows: the stage's packed rows. Without ``recipe.mix`` they are every example of the stage (an epoch);
        with it, the rows drawn by the mix for exactly ``steps`` steps, consumed as one shuffled stream.
    parent: where the starting weights come from; ``previous`` is the previous stage's model when it is
        still in memory (`valuesfirst train`), which then replaces rebuilding it from ``parent``.
    out / final_dir: where outputs are written, and the folder they end up in (a stage store builds in
        a temp folder and renames it); checkpoints go to ``checkpoint_dir`` every ``checkpoint_every`` steps.
    """

    index: int
    kind: str
    recipe: Recipe
    source: ModelSource
    parent: Lineage
    rows: list[PackedRow]
    data_seed: int
    init_seed: int
    out: Path
    final_dir: Path | None = None
    save_merged: bool = False
    carry_adapter: bool = False
    checkpoint_dir: Path | None = None
    checkpoint_every: int = 0
    resume_from: Path | None = None
    previous: Any = None
    check_isolation: bool = True


@dataclass
class StageContext:
    """What every stage of a run shares: the accelerator, the tokenizer and where metrics go."""

    accelerator: Any
    tokenizer: Any
    added_tokens: list[str]
    pad_id: int
    bf16: bool
    sink: MetricsSink
    log: Callable[[str], None]
    config_json: dict[str, Any]
    log_every: int = 10
    peak_flops: float | None = None
    on_step: Callable[[int, float], None] | None = None


def _stream(rows: Sequence[PackedRow], recipe: Recipe, seed: int, world: int, rank: int, first: int):
    """Micro-batches of a mixed stage: one seeded shuffled stream; on ``world`` ranks, micro-batch m of a
    step goes to rank m % world (on one process exactly the embedded demo's historical order)."""
    it: Iterator[list[PackedRow]] = batches(rows, recipe.batch_size, torch.Generator().manual_seed(seed))
    per_step = recipe.grad_accum * world
    it = itertools.islice(it, first * per_step, None)  # resume: the stream is a pure function of the seed
    for k, batch in enumerate(it):
        if k % world == rank:
            yield batch


def train_stage(job: StageJob, ctx: StageContext) -> tuple[Any, dict[str, Any]]:
    """Train one stage; write its outputs; return (the model a next stage may continue, the summary)."""
    acc, recipe = ctx.accelerator, job.recipe
    main, world, rank = acc.is_main_process, acc.num_processes, acc.process_index
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    dtype = weights_dtype(recipe, ctx.bf16)
    mode = start_mode(recipe, job.parent)
    with whole_models(acc):
        if job.previous is not None:
            model = continue_from(job.previous, recipe, ctx.tokenizer, ctx.added_tokens, job.init_seed)
        else:
            model = start_model(
                job.source, recipe, job.parent, ctx.tokenizer, ctx.added_tokens, dtype, job.init_seed
            )
        if recipe.packing and job.check_isolation:
            assert_packing_isolated(model)  # packed examples must never attend to each other
    acc.free_memory()
    gc.collect()
    model.train()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    start_digest = state_digest(trainable_state(model))  # before prepare shards it
    steps = recipe.stage_steps(len(job.rows), world)
    optim = recipe.optim(steps)
    configure_deepspeed(acc, recipe.batch_size, recipe.grad_accum, recipe.grad_clip)
    # Model and optimizer go through prepare together: FSDP2 and DeepSpeed require it.
    prepared, optimizer = acc.prepare(model, make_optimizer(model, optim))
    unwrapped = acc.unwrap_model(prepared)
    hist, first = TrainHistory(), 0
    if job.resume_from is not None:
        state = read_state(job.resume_from)
        load_trainable_full(acc, prepared, load_trainable(job.resume_from, names))
        load_optimizer_state(acc, prepared, optimizer, load_optimizer(job.resume_from), job.resume_from)
        first, hist.loss, hist.steps, hist.lr = state["step"], state["loss"], state["steps"], state["lr"]
        hist.tokens, hist.target_tokens = state["tokens"], state["target_tokens"]
        ctx.log(f"resumed stage {job.index} ({job.kind}) at step {first} from {job.resume_from}")
    seen: list[int] = []
    if recipe.mix is not None:
        micro = _stream(job.rows, recipe, job.data_seed, world, rank, first)
    else:
        plan = BatchPlan(len(job.rows), recipe.batch_size, recipe.grad_accum, world, rank, job.data_seed)
        micro = plan.batches(job.rows, first, seen)
    hook = StepHook(
        stage=job.index, kind=job.kind, steps=steps, hist=hist, model=prepared, optimizer=optimizer,
        trainable_names=names, accelerator=acc, sink=ctx.sink, log=ctx.log,
        output_dir=job.checkpoint_dir or job.out, config=ctx.config_json, log_every=ctx.log_every,
        checkpoint_every=job.checkpoint_every if job.checkpoint_dir is not None else 0,
        flops_per_token=train_flops_per_token(unwrapped, mean_segment(job.rows), recipe.finetune == "lora"),
        peak_flops=ctx.peak_flops, on_step=ctx.on_step,
    )  # fmt: skip
    train_steps(
        prepared,
        micro,
        optimizer,
        functools.partial(_lr_at, total=steps, optim=optim),
        steps - first,
        ctx.pad_id,
        start_step=first,
        grad_clip=recipe.grad_clip,
        history=hist,
        on_step=hook,
        accelerator=acc,
        grad_accum=recipe.grad_accum,
    )
    acc.wait_for_everyone()
    sharded = is_sharded(acc)
    # Sharded: one gathered state dict (main process) serves digests and saving.
    gathered = full_state(acc, prepared) if sharded else None
    full_digest: str | None
    if gathered is not None:
        end_digest = state_digest({k: v for k, v in gathered.items() if k in names})
        full_digest = state_digest(gathered) if main else None
    else:  # all weights, frozen ones included: what DDP ranks must agree on
        end_digest = state_digest(trainable_state(unwrapped))
        full_digest = state_digest({n: p for n, p in unwrapped.named_parameters()})
    lineage = child_lineage(recipe, job.parent, job.final_dir or job.out)
    with whole_models(acc):  # a LoRA stage's merge loads the base model again, on the main process
        carried = save_stage_outputs(
            unwrapped, ctx.tokenizer, job.source, mode, lineage, job.out, write=main, dtype=dtype,
            save_merged=job.save_merged, carry_adapter=job.carry_adapter, seed=job.init_seed,
            final_dir=job.final_dir, gathered=gathered,
        )  # fmt: skip
    summary = {
        "stage": job.index,
        "kind": job.kind,
        "mode": mode,
        "rows": len(job.rows),
        "steps_planned": steps,
        "loss_final": hist.loss[-1] if hist.loss else None,
        **hist.summary(),
        "packing_efficiency": round(packing_efficiency(job.rows, recipe.seq_len), 4),
        "start_digest": start_digest,
        "end_digest": end_digest,
        "full_digest": full_digest,
        "rows_seen": seen,
        "data_seed": job.data_seed,
        "lineage": lineage.to_json(),
        "loss": hist.loss,
        "lr": hist.lr,
    }
    acc.wait_for_everyone()
    del prepared, optimizer, gathered
    return carried, summary


def write_stage_summary(
    out: Path, summary: dict[str, Any], config_json: dict[str, Any], **extra: Any
) -> None:
    """``summary.json`` of a finished stage (the per-rank fields left out)."""
    kept = {k: v for k, v in summary.items() if k not in ("rows_seen", "full_digest", "loss", "lr")}
    write_json(out / "summary.json", {**kept, **extra, "config": config_json, "provenance": provenance()})


def _lr_at(step: int, total: int, optim: OptimConfig) -> float:
    return optim.lr * lr_factor(step, total, optim)


def mean_segment(rows: list[PackedRow]) -> float:
    n_segments = sum(max(r.segment_ids) + 1 for r in rows)
    return sum(len(r) for r in rows) / max(1, n_segments)
