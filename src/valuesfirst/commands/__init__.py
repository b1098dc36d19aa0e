"""CLI command groups, one module each; ``cli.py`` registers them.

Each module exposes ``register(app)`` and imports heavy libraries (torch, transformers, openai) inside
its command functions, so ``valuesfirst --help`` stays fast and cli.py's OMP setting precedes torch.
"""
