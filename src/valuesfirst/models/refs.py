"""What a model reference means: a named shipped model, a local folder, or a hub id.

One resolver for every place that takes a model (`model:` in configs, `--model`, `local:` backends), so a
name means the same thing everywhere and a typo fails in milliseconds with the choices listed.
"""

from __future__ import annotations

import re
from pathlib import Path

from valuesfirst.errors import InputError, Problem

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _problem(field: str | None, message: str) -> InputError:
    return InputError([Problem(None, None, field, message)])


def check_model_ref(ref: str, *, field: str | None = "model") -> str:
    """Classify ``ref`` without loading or converting anything: "named", "local" or "hub".

    InputError naming the field for a file, a missing folder, or a string that is neither.
    """
    from valuesfirst.models.named import NAMED_MODELS

    if ref in NAMED_MODELS:
        return "named"
    p = Path(ref).expanduser()
    if p.exists():
        if not p.is_dir():
            raise _problem(field, f"{ref} is a file; expected a model folder, a named model or a hub id")
        return "local"
    if _HUB_ID.match(ref) and not ref.startswith((".", "/", "~")):
        return "hub"
    raise _problem(
        field,
        f"model path does not exist: {ref} (named models: {', '.join(sorted(NAMED_MODELS))}; or a local "
        "folder, or a hub id like Qwen/Qwen2.5-0.5B)",
    )


def resolve_model_ref(ref: str, *, field: str | None = "model") -> str:
    """The path or hub id that transformers loads for ``ref`` (a named model is converted on first use)."""
    kind = check_model_ref(ref, field=field)
    if kind == "named":
        from valuesfirst.models.named import ensure_named_model

        return str(ensure_named_model(ref))
    if kind == "local":
        return str(Path(ref).expanduser())
    return ref
