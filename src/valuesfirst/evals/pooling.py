"""Pool score files of several checkpoints for ``eval-compare``, refusing to count anything twice.

The same file passed twice (or two copies of it) would double every unit's weight and halve the
bootstrap's apparent uncertainty without any error; so would one run's rows appearing in two files. Both
are refused, naming the files and the first repeated row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import iter_jsonl_numbered, sha256_file

REQUIRED = ("id", "metrics", "excluded", "unit", "cell")


def pooled_score_rows(paths: Sequence[Path]) -> list[dict]:
    """Rows of every scores file, in order. Raises ``InputError`` for a file given twice (same path or
    same content), a row missing a required field, or a row (eval, id, condition, seed) seen before."""
    problems: list[Problem] = []
    by_hash: dict[str, Path] = {}
    for p in paths:
        if not p.is_file():
            problems.append(Problem(str(p), None, None, "no such scores file"))
            continue
        digest = sha256_file(p)
        if digest in by_hash:
            same = by_hash[digest].resolve() == p.resolve()
            what = "is given twice" if same else f"has the same content as {by_hash[digest]}"
            problems.append(Problem(str(p), None, None, f"{what}: its rows would count twice"))
        by_hash.setdefault(digest, p)
    if problems:
        raise InputError(problems)
    rows: list[dict] = []
    seen: dict[tuple, tuple[Path, int]] = {}
    for p in paths:
        for line, row in iter_jsonl_numbered(p):
            missing = [f for f in REQUIRED if f not in row]
            if missing:
                problems.append(Problem(str(p), line, missing[0], f"score row lacks {missing}"))
                continue
            key = (row.get("eval"), row["id"], row.get("condition"), row.get("seed"))
            if key in seen:
                first, first_line = seen[key]
                message = f"row {key} already in {first} line {first_line}"
                problems.append(Problem(str(p), line, "id", message))
                continue
            seen[key] = (p, line)
            rows.append(row)
        if len(problems) >= 20:
            break
    if problems:
        raise InputError(problems[:20])
    return rows
