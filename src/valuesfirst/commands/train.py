"""``valuesfirst train``: MSM and AFT stages on a real base model (CPU, one GPU, or many via accelerate)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from valuesfirst.commands.ui import console, fail
from valuesfirst.errors import InputError


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
) -> None:
    """Train the stages of an ordering (values-first MSM→AFT by default) with the paper's recipe.

    The same command runs under `accelerate launch` (configs/accelerate/*.yaml) or
    `torchrun --nproc_per_node N -m valuesfirst.cli train CONFIG`.
    """
    import json

    from rich.syntax import Syntax

    from valuesfirst.train.train_config import TrainConfig
    from valuesfirst.yamlio import load_model

    try:
        cfg = load_model(config, TrainConfig)
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
    main = _is_main_process()
    if main:
        console.rule(f"[bold]valuesfirst train: {cfg.ordering} ({' → '.join(cfg.stages)})")
        console.print("resolved config:")
        text = json.dumps(cfg.model_dump(mode="json"), indent=1)
        console.print(Syntax(text, "json", word_wrap=True))
    from valuesfirst.train.run import run_training  # torch: only once the config is known good

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


def register(app: typer.Typer) -> None:
    """Add ``valuesfirst train`` to the top-level app."""
    app.command("train")(train)
