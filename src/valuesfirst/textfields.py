"""Text out of JSONL rows: a string field, or chosen turns of a ``messages`` list.

Shared by the data-quality passes (dedup, patterns, leakage) and anything else that must turn a dataset
row into one string with errors that name the file, line and field.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import iter_jsonl_numbered

EVAL_FIELDS = ("messages", "prompt", "question", "input", "text")
CORPUS_FIELDS = ("text", "messages")


def parse_roles(value: str) -> frozenset[str] | None:
    """``"all"`` → None (every role); otherwise a comma-separated set such as ``user,system``."""
    return None if value.strip() == "all" else frozenset(r.strip() for r in value.split(",") if r.strip())


def row_text(
    row: dict[str, Any],
    field: str,
    roles: frozenset[str] | None,
    *,
    file: str,
    line: int,
    labels: bool = False,
) -> str:
    """The text of ``row[field]``: a string field, or the selected turns of a ``messages`` list.

    A message's content may be a string or a list of ``{"type": "text", "text": ...}`` parts. With
    ``labels`` each turn is prefixed by ``[role]`` (for judges, who need to see who said what).
    Raises InputError naming file, line and field.
    """
    if field not in row:
        raise InputError.single("required field is missing", file=file, line=line, field=field)
    value = row[field]
    if field != "messages":
        if not isinstance(value, str):
            raise InputError.single(
                f"expected a string, got {type(value).__name__}", file=file, line=line, field=field
            )
        return value
    if not isinstance(value, list):
        raise InputError.single("expected a list of messages", file=file, line=line, field=field)
    parts: list[str] = []
    for k, msg in enumerate(value):
        where = f"messages[{k}]"
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise InputError.single(
                "expected an object with a string `role`", file=file, line=line, field=where
            )
        if roles is not None and msg["role"] not in roles:
            continue
        content = msg.get("content")
        if isinstance(content, list) and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            for p in content
        ):
            content = "\n".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise InputError.single(
                "`content` must be a string or a list of text parts",
                file=file,
                line=line,
                field=f"{where}.content",
            )
        parts.append(f"[{msg['role']}]\n{content}" if labels else content)
    if not parts:
        wanted = "any role" if roles is None else "role " + "/".join(sorted(roles))
        raise InputError.single(f"no message with {wanted}", file=file, line=line, field=field)
    return "\n\n".join(parts)


def resolve_field(row: dict[str, Any], field: str, preference: Sequence[str], file: str, line: int) -> str:
    if field != "auto":
        return field
    for name in preference:
        if name in row:
            return name
    raise InputError.single(
        f"none of the fields {', '.join(preference)} is present (or pass --field)", file=file, line=line
    )


def read_texts(
    path: Path,
    field: str,
    roles: frozenset[str] | None,
    *,
    preference: Sequence[str] = EVAL_FIELDS,
    labels: bool = False,
) -> tuple[list[dict[str, Any]], list[int], list[str], Counter[str]]:
    """Rows, their line numbers, their texts and which fields supplied them.

    Field problems are collected (up to 20) and raised together; a line that is not a JSON object ends the
    read (the problems found before it are reported with it).
    """
    rows, lines, texts, used = [], [], [], Counter[str]()
    problems: list[Problem] = []
    numbered = iter_jsonl_numbered(path)
    while True:
        try:
            item = next(numbered, None)
        except InputError as e:
            problems += e.problems
            break
        if item is None:
            break
        line, row = item
        try:
            name = resolve_field(row, field, preference, str(path), line)
            texts.append(row_text(row, name, roles, file=str(path), line=line, labels=labels))
            used[name] += 1
            rows.append(row)
            lines.append(line)
        except InputError as e:
            problems += e.problems
            if len(problems) >= 20:
                break
    if problems:
        raise InputError(problems[:20])
    return rows, lines, texts, used
