"""The ``valuesfirst`` command: assembles the app from the command modules in ``valuesfirst.commands``."""

from __future__ import annotations

import os

# Spinning OpenMP workers thrash when the cores are shared with any other process (3.5 s vs 0.4 s per
# step measured on 2 cores); passive waiting costs nothing when the machine is idle. Must be set before
# torch loads its OpenMP runtime, so it sits above every import that could pull torch in.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import Annotated  # noqa: E402

import typer  # noqa: E402

from valuesfirst import __version__  # noqa: E402
from valuesfirst.commands import (  # noqa: E402
    data,
    eval_compare,
    evaluate,
    experiment,
    generate,
    init,
    spec,
    train,
)
from valuesfirst.commands.ui import console  # noqa: E402

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Values-first alignment training: spec → MSM corpus and AFT data → staged training → "
    "evaluation → report.",
)


def _print_version(value: bool) -> None:
    if value:
        console.print(f"valuesfirst {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    # Only the global options live here; the app's help text is the Typer's.
    del version


# The order of the help listing: the experiment first, then the one-stage commands.
for _module in (experiment, init, spec, generate, data, train, evaluate, eval_compare):
    _module.register(app)

if __name__ == "__main__":
    app()
