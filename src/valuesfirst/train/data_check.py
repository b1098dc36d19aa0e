"""Row checks of training JSONL files (documents with `text`, chats with `messages`), torch-free.

They run in preflight, before any model or tokenizer loads, so a wrong field or a chat without an
assistant turn fails in a fraction of a second with its file and line; train/data.py and the tokenizer
use the same checks when they read the rows for real.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import iter_jsonl_numbered

_MAX_PROBLEMS = 20


def check_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    """Raise ValueError unless ``messages`` is a non-empty list of {role, content} string mappings."""
    if not messages:
        raise ValueError("chat has no messages")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ValueError(f"message {i} is a {type(message).__name__}, expected a mapping")
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                raise ValueError(f"message {i} lacks a string {key!r} (got {message.get(key)!r})")
        if not message["role"].strip():
            raise ValueError(f"message {i} has an empty role")


def read_checked(paths: Sequence[Path], fields: Sequence[str], source: str) -> list[dict[str, Any]]:
    """Rows of ``paths`` that have one of ``fields`` (`text` and/or `messages`), checked; every problem (up
    to 20) named by file, line and field. ``source`` names the config field the files came from."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for path in paths:
        if not path.is_file():
            problems.append(Problem(str(path), None, source, "file does not exist"))
            continue
        n_before = len(rows)
        for line, row in iter_jsonl_numbered(path):
            field = next((f for f in fields if f in row), fields[0])
            problem = _check_row(row, field)
            if problem is None:
                rows.append(row)
            else:
                problems.append(Problem(str(path), line, field, problem))
            if len(problems) >= _MAX_PROBLEMS:
                raise InputError(problems)
        if len(rows) == n_before:
            problems.append(Problem(str(path), None, source, "file has no rows"))
    if problems:
        raise InputError(problems)
    return rows


def _check_row(row: dict[str, Any], field: str) -> str | None:
    if field not in row:
        return f"required field is missing (row has {sorted(row)})"
    value = row[field]
    if field == "text":
        return None if isinstance(value, str) and value.strip() else "must be a non-empty string"
    if not isinstance(value, list):
        return f"must be a list of messages, got {type(value).__name__}"
    try:
        check_messages(value)
    except ValueError as e:
        return str(e)
    if not any(m["role"] == "assistant" for m in value):
        return "chat has no assistant turn, so it has nothing to train on"
    return None
