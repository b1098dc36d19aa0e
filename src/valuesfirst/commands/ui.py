"""The one console pair and the one way to fail, shared by every command.

Every command prints through ``console`` (stdout) and ``err_console`` (stderr), and every bad input ends in
``fail``: the problems on stderr, each naming its file, line and field, and exit code 2 with nothing run.
Rich resolves ``sys.stdout``/``sys.stderr`` at print time, so test runners that swap them still capture.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from valuesfirst.errors import InputError

console = Console(soft_wrap=True)  # log lines stay whole when piped to a file
err_console = Console(stderr=True)


def fail(error: InputError | Exception | str) -> NoReturn:
    """Print the problem(s) on stderr and exit 2: bad input, nothing run.

    An InputError prints one line per problem (``FILE:LINE: field …: message``); a string or any other
    exception (a pydantic or ValueError message) is one message about the command line itself (a missing
    flag, an unknown name).
    """
    if isinstance(error, InputError):
        err_console.print(f"[bold red]error:[/] {len(error.problems)} problem(s)")
        for p in error.problems:
            err_console.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
