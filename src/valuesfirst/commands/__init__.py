"""The ``valuesfirst`` commands, one module per command group; ``cli.py`` only assembles them.

Every module follows one pattern: its commands are plain module-level functions (or a sub-``Typer`` for a
group such as ``generate`` or ``data``), and ``register(app)`` adds them to the top-level app. Modules
print through ``ui.console``/``ui.err_console`` and fail through ``ui.fail`` (exit 2). Heavy libraries
(torch, transformers, openai) are imported inside the command functions, after the input is checked, so
``valuesfirst --help`` and every input error stay fast and cli.py's OMP setting precedes torch.
"""
