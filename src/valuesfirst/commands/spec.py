"""``valuesfirst spec check`` and ``spec render``: validate a spec file, print what a generator sees."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuesfirst.commands.ui import console, err_console, fail
from valuesfirst.errors import InputError

spec_app = typer.Typer(no_args_is_help=True, help="Work with spec files.")


@spec_app.command("check")
def check(files: Annotated[list[Path], typer.Argument(help="spec files (YAML)")]) -> None:
    """Validate spec files; every problem is printed with its file, line and field (exit 2 if any)."""
    from valuesfirst.spec import check_spec

    bad = 0
    for f in files:
        problems = check_spec(f)
        if problems:
            bad += 1
            for p in problems:
                err_console.print(str(p), markup=False, highlight=False, soft_wrap=True)
        else:
            console.print(f"{f}: ok")
    if bad:
        raise typer.Exit(2)


@spec_app.command("render")
def render(
    file: Annotated[Path, typer.Argument(help="spec file (YAML)")],
    variant: Annotated[
        str, typer.Option(help="values_explained, rules_only, rules_augmented or general")
    ] = "values_explained",
) -> None:
    """Print a rendering of a spec (the text an LLM generator sees as context)."""
    from valuesfirst.spec import load_spec
    from valuesfirst.spec_render import RENDERERS

    if variant not in RENDERERS:
        fail(f"unknown variant {variant!r}; known: {sorted(RENDERERS)}")
    try:
        spec = load_spec(file)
    except InputError as e:
        fail(e)
    console.print(RENDERERS[variant](spec), markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``valuesfirst spec …`` to the top-level app."""
    app.add_typer(spec_app, name="spec")
