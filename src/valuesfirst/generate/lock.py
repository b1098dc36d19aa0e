"""One writer per output folder: an advisory ``flock`` on ``<out>/.lock``.

Two runs sharing one ``--out`` double every request and, with answers that vary per request, leave a
dataset pointing at rows that one run wrote and the other replaced. The second run therefore stops at
once with an error naming the folder and the first run's pid. The kernel releases the lock when the
holder exits in any way (SIGKILL included), so a killed run never leaves it stuck; the file itself stays
(removing it would race with the next holder) and only says who held it last.

The lock is re-entrant within a process (the CLI takes it before building its clients, the library
again around the run). Where ``fcntl`` is missing (Windows) no lock is taken.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valuesfirst.errors import InputError
from valuesfirst.provenance import utc_now

LOCK_NAME = ".lock"
_held: dict[str, tuple[int, int]] = {}  # resolved folder -> (fd, depth)


def make_out_dir(out: Path, field: str = "--out") -> Path:
    """Create ``out`` (and its parents); InputError naming ``field`` when a file is in the way."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), out)
        raise InputError.single(
            f"cannot use {out} as the output folder: {blocker} is a file", file=str(out), field=field
        ) from None
    except PermissionError as exc:
        raise InputError.single(
            f"cannot create the output folder: {exc}", file=str(out), field=field
        ) from None
    return out


@contextmanager
def output_lock(out: Path) -> Iterator[Path]:
    """Hold ``out``'s writer lock for the block; InputError (exit 2) when another process holds it."""
    out = make_out_dir(out)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield out
        return
    name = str(out.resolve())
    if name in _held:
        fd, depth = _held[name]
        _held[name] = (fd, depth + 1)
        try:
            yield out
        finally:
            fd, depth = _held[name]
            _held[name] = (fd, depth - 1)
        return
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
        os.close(fd)
        raise InputError.single(
            f"another run is writing to this folder ({holder}); wait for it to finish or use another --out",
            file=str(out),
            field="--out",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, started {utc_now()}\n".encode(), 0)
    _held[name] = (fd, 1)
    try:
        yield out
    finally:
        depth = _held[name][1] - 1
        if depth == 0:
            del _held[name]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        else:
            _held[name] = (fd, depth)
