"""JSON and JSON Lines files: atomic writes, strict reads, content hashes.

Every file the toolkit writes goes through :func:`write_jsonl` or :func:`write_json`, which write a temporary
file in the destination folder, fsync it and ``os.replace`` it over the destination. A reader therefore sees
either the old file or the complete new one, never a torn half, even after a crash or a full disk.

Reads are strict: a line that is not valid JSON, or valid JSON that is not an object, raises
:class:`~valuesfirst.errors.InputError` naming the file and the 1-based line number, because a silently
skipped record would change a dataset without anyone noticing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from valuesfirst.errors import InputError, Problem

__all__ = [
    "fsync_dir",
    "iter_jsonl",
    "iter_jsonl_numbered",
    "read_json",
    "read_jsonl",
    "require_fields",
    "sha256_file",
    "write_json",
    "write_jsonl",
]

# Reading in 1 MiB chunks keeps memory flat for multi-GB checkpoints while staying near disk speed.
_CHUNK = 1 << 20
# read_jsonl reports at most this many problems at once: enough to show a pattern, not a wall of text.
_MAX_PROBLEMS = 20


def fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk so a rename inside it survives a power loss.

    Some platforms (Windows) cannot open a directory; there the rename is as durable as the OS makes it.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(handle)`` on a temp file next to ``path``, then atomically replace ``path`` with it.

    The temp file lives in the same folder so ``os.replace`` is a same-filesystem rename (atomic on POSIX).
    On any failure, including KeyboardInterrupt and ENOSPC, the temp file is removed and ``path`` is left
    exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def _dumps_line(row: Any, path: Path, index: int) -> str:
    if not isinstance(row, Mapping):
        raise TypeError(
            f"{path}: row {index + 1} is a {type(row).__name__}, expected a mapping (JSON object)"
        )
    # allow_nan=False: NaN/Infinity are not JSON and break every other reader (jq, JavaScript, pandas).
    try:
        return json.dumps(dict(row), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: row {index + 1} cannot be written as JSON: {exc}") from exc


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Atomically write ``rows`` as JSON Lines to ``path`` and return the number of rows written.

    ``rows`` may be a generator; if it raises midway, the previous content of ``path`` (or its absence)
    is preserved. Values must be JSON-serialisable and finite (no NaN/Infinity).
    """
    target = Path(path)
    count = 0

    def write(handle: IO[str]) -> None:
        nonlocal count
        for index, row in enumerate(rows):
            handle.write(_dumps_line(row, target, index))
            handle.write("\n")
            count = index + 1

    _atomic_write(target, write)
    return count


def write_json(path: str | os.PathLike[str], obj: Any, *, sort_keys: bool = False) -> None:
    """Atomically write ``obj`` as indented JSON (indent=2, trailing newline) to ``path``.

    ``sort_keys`` (default False) sorts object keys, which makes files diff-friendly when the producer's
    key order is not meaningful. NaN/Infinity are rejected, as in :func:`write_jsonl`.
    """
    target = Path(path)
    try:
        text = json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{target}: cannot be written as JSON: {exc}") from exc
    _atomic_write(target, lambda handle: handle.write(text + "\n"))


def _open_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of ``path``.

    Lines are decoded one by one (not through a text-mode file) so a UTF-8 error names its exact line.
    A UTF-8 byte-order mark on the first line is tolerated because some editors add one.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError.single("file does not exist", file=str(path)) from None
    except IsADirectoryError:
        raise InputError.single("is a directory", file=str(path)) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise InputError.single(
                    f"not valid UTF-8: {exc.reason}", file=str(path), line=number
                ) from None
            yield number, text


def _parse_line(path: Path, number: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.single(
            f"invalid JSON: {exc.msg} (column {exc.colno})", file=str(path), line=number
        ) from None
    if not isinstance(value, dict):
        raise InputError(
            [
                Problem(
                    file=str(path),
                    line=number,
                    field=None,
                    message=f"expected a JSON object, got {type(value).__name__}",
                )
            ]
        )
    return value


def iter_jsonl_numbered(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, row)`` for each non-blank line; stop with InputError at the first bad line."""
    source = Path(path)
    for number, text in _open_lines(source):
        if text.strip():
            yield number, _parse_line(source, number, text)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the JSON objects of a JSON Lines file; blank lines are skipped.

    Raises InputError (file, line) at the first line that is not valid JSON or not an object.
    """
    for _, row in iter_jsonl_numbered(path):
        yield row


def read_jsonl(path: str | os.PathLike[str], *, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a whole JSON Lines file into a list of dicts; blank lines are skipped.

    Unlike :func:`iter_jsonl`, every bad line is reported (up to 20) in one InputError, so a user can fix
    a file in one pass. ``required`` (default: none) names fields every row must have; a missing one is
    reported with its exact line number.
    """
    source = Path(path)
    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    problems: list[Problem] = []
    for number, text in _open_lines(source):
        if not text.strip():
            continue
        try:
            rows.append(_parse_line(source, number, text))
            numbers.append(number)
        except InputError as exc:
            problems.extend(exc.problems)
            if len(problems) >= _MAX_PROBLEMS:
                break
    if problems:
        raise InputError(problems[:_MAX_PROBLEMS])
    if required:
        require_fields(rows, required, source, line_numbers=numbers)
    return rows


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read one JSON document; a missing file or invalid JSON raises InputError naming file and line."""
    source = Path(path)
    text = "".join(line for _, line in _open_lines(source))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.single(f"invalid JSON: {exc.msg}", file=str(source), line=exc.lineno) from None


def require_fields(
    rows: Sequence[Mapping[str, Any]],
    fields: Iterable[str],
    path: str | os.PathLike[str] | None,
    *,
    line_numbers: Sequence[int] | None = None,
) -> None:
    """Raise InputError if any row lacks any of ``fields``; each problem names file, line and field.

    ``line_numbers`` (default: row index + 1, exact for files written by :func:`write_jsonl`, which never
    writes blank lines) gives the source line of each row; :func:`read_jsonl` passes the true numbers.
    A field that is present with value ``null`` counts as present: whether null is allowed is the
    schema's business, not this check's.
    """
    wanted = list(fields)
    if line_numbers is not None and len(line_numbers) != len(rows):
        raise ValueError(f"line_numbers has {len(line_numbers)} entries for {len(rows)} rows")
    file = None if path is None else str(path)
    problems: list[Problem] = []
    for index, row in enumerate(rows):
        line = line_numbers[index] if line_numbers is not None else index + 1
        for field in wanted:
            if field not in row:
                problems.append(
                    Problem(file=file, line=line, field=field, message="required field is missing")
                )
        if len(problems) >= _MAX_PROBLEMS:
            break
    if problems:
        raise InputError(problems[:_MAX_PROBLEMS])


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
