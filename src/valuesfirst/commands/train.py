"""``valuesfirst train``: MSM and AFT stages on a real base model (CPU, one GPU, or many via accelerate)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from valuesfirst.commands.ui import console, fail
from valuesfirst.errors import InputError

if TYPE_CHECKING:
    from valuesfirst.train.train_config import TrainConfig


def _is_main_process() -> bool:
    # torchrun and accelerate launch set RANK; only rank 0 prints the resolved config.
    return os.environ.get("RANK", "0") == "0"


def train(
    config: Annotated[Path, typer.Argument(help="train config (YAML); see configs/train/*.yaml")],
    out: Annotated[Path | None, typer.Option(help="output folder (overrides output_dir)")] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume/--no-resume", help="resume from the last checkpoint")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="cap on steps per stage")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config field, e.g. --set recipe.lr=2e-4 (repeatable)"),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="check the config, the model reference and every data file; train nothing"
        ),
    ] = False,
) -> None:
    """Train the stages of an ordering (values-first MSM→AFT by default) with the paper's recipe.

    The same command runs under `accelerate launch` (configs/accelerate/*.yaml) or
    `torchrun --nproc_per_node N -m valuesfirst.cli train CONFIG`.
    """
    from valuesfirst.overrides import apply_overrides, parse_overrides
    from valuesfirst.train.train_config import TrainConfig
    from valuesfirst.yamlio import load_model

    try:
        cfg = apply_overrides(load_model(config, TrainConfig), parse_overrides(set_ or []))
    except InputError as e:
        fail(e)
    update: dict[str, object] = {}
    if out is not None:
        update["output_dir"] = out
    if resume is not None:
        update["resume"] = resume
    if max_steps is not None:
        update["recipe"] = cfg.recipe.model_copy(update={"max_steps": max_steps})
    cfg = cfg.model_copy(update=update)
    try:
        check_inputs(cfg)  # a missing file or a bad row in a second, before torch and before any output
    except InputError as e:
        fail(e)
    main = _is_main_process()
    if main:
        console.rule(f"[bold]valuesfirst train: {cfg.ordering} ({' → '.join(cfg.stages)})")
        for line in train_summary(cfg):
            console.print(f"  {line}", markup=False, highlight=False)
        console.print(f"  (full resolved config: {cfg.output_dir / 'train_config.json'})", highlight=False)
    if dry_run:
        if main:
            console.print(
                "dry run: the config, the model reference and the data files are valid; nothing trained"
            )
        return
    from valuesfirst.train.run import run_training  # torch: only once the inputs are known good

    def log(line: str) -> None:
        if main:
            console.print(line, markup=False, highlight=False)

    try:
        result = run_training(cfg, log=log)
    except InputError as e:
        fail(e)
    if main:
        for stage_dir, summary in zip(result["stages"], result["summaries"], strict=True):
            console.print(f"{stage_dir}: {summary}")


def check_inputs(cfg: TrainConfig) -> None:
    """The model reference and every data file, checked without torch; InputError with every problem.

    run_training checks the same again as it reads the rows; this pass only moves the failure before the
    seconds (tens, on a loaded machine) that importing torch and transformers costs.
    """
    from valuesfirst.models.refs import check_model_ref
    from valuesfirst.train.data_check import read_checked

    problems = []
    try:
        check_model_ref(cfg.model.path, field="model.path")
    except InputError as e:
        problems += e.problems
    for source, field in (("msm", "text"), ("aft", "messages"), ("it", "messages")):
        files = getattr(cfg.data, source)
        if files:
            try:
                read_checked(files, (field,), f"data.{source}")
            except InputError as e:
                problems += e.problems
    if problems:
        raise InputError(problems)


def train_summary(cfg: TrainConfig) -> list[str]:
    """The resolved config in a few lines; run_training writes all of it to OUTPUT_DIR/train_config.json."""
    d = cfg.data
    data = [f"{k} {len(getattr(d, k))} file(s)" for k in ("msm", "aft", "it") if getattr(d, k)]
    if d.it_fraction:
        data.append(f"it_fraction {d.it_fraction}")
    if d.cot == "strip":
        data.append("CoT stripped")
    resumes = " (resumes from its last checkpoint)" if cfg.resume else ""
    return [
        f"model: {cfg.model.path}",
        f"data: {', '.join(data)}",
        f"stages: {' → '.join(cfg.stages)}; recipe: {cfg.recipe.summary()}",
        f"seed {cfg.seed}; output: {cfg.output_dir}{resumes}",
    ]


def register(app: typer.Typer) -> None:
    """Add ``valuesfirst train`` to the top-level app."""
    app.command("train")(train)
