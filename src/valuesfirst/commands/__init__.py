"""CLI command groups, one module each; ``cli.py`` registers them.

Each module exposes ``register(app)`` and imports heavy libraries (torch, transformers, openai) inside
its command functions, so ``valuesfirst --help`` stays fast and cli.py's OMP setting precedes torch.
"""

from typing import NoReturn

import typer
from rich.console import Console

from valuesfirst.errors import InputError

_err_console = Console(stderr=True)


def fail(e: InputError) -> NoReturn:
    """Print every problem (``FILE:LINE: field …: message``) on stderr and exit 2: bad input, nothing run."""
    _err_console.print(f"[bold red]error:[/] {len(e.problems)} problem(s)")
    for p in e.problems:
        _err_console.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)
