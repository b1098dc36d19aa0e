"""``valuesfirst init NAME``: a working experiment folder to edit, instead of a blank page.

Writes ``NAME/experiment.yaml`` (the embedded world's cheese experiment, four conditions and one claim, with
a ``quick:`` section), ``NAME/specs/spec_a.yaml`` and ``spec_b.yaml`` (copies of the demo's specs A and
B) and ``NAME/README.md`` (how to run it, what to edit). The folder runs offline as written:
``valuesfirst run NAME/experiment.yaml --quick`` is a smoke run of the whole pipeline. The written config is
loaded and preflighted before ``init`` returns, so a scaffold that would not run is a bug, not a surprise.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from valuesfirst.commands.ui import console, fail
from valuesfirst.errors import InputError

# The config's `name` becomes the run folder's name: keep it a plain, portable file name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SPECS = {"spec_a.yaml": "pro_thrift_cheese.yaml", "spec_b.yaml": "pro_homeland_cheese.yaml"}


def _package_text(*parts: str) -> str:
    return resources.files("valuesfirst").joinpath(*parts).read_text(encoding="utf-8")


def scaffold(folder: Path) -> list[Path]:
    """Write the experiment folder; return the files written. InputError if it exists and is not empty."""
    name = folder.name
    if not _NAME.match(name):
        raise InputError.single(
            "must be a plain name: letters, digits, '-', '_' or '.', starting with a letter or digit "
            "(it names the run folder)",
            field="NAME",
        )
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError.single(
            "already exists and is not empty: init never overwrites; pick another name",
            file=str(folder),
            field="NAME",
        )
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    written = []
    for target, source in SPECS.items():
        path = folder / "specs" / target
        path.write_text(_package_text("specs", source), encoding="utf-8")
        written.append(path)
    for template in ("experiment.yaml", "README.md"):
        text = _package_text("configs", "init", template)
        path = folder / template
        path.write_text(text.replace("__NAME__", name).replace("__DIR__", str(folder)), encoding="utf-8")
        written.append(path)
    return written


def init(
    name: Annotated[Path, typer.Argument(help="the folder to create (its last part names the experiment)")],
) -> None:
    """Scaffold an experiment folder (spec, experiment config, README) whose `run --quick` works offline."""
    from valuesfirst.experiment.config import load_experiment
    from valuesfirst.experiment.preflight import preflight

    try:
        written = scaffold(name)
        for quick in (False, True):  # the scaffold must load and preflight, with and without --quick
            preflight(load_experiment(name / "experiment.yaml", quick=quick))
    except InputError as e:
        fail(e)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    console.print(
        f"next: valuesfirst run {name / 'experiment.yaml'} --quick   (then read {name / 'README.md'})",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``valuesfirst init`` to the top-level app."""
    app.command("init")(init)
