"""On-disk completion cache: one JSON file per request key, written atomically.

One file per entry (sharded by the first two hex digits) rather than one database: a SIGKILL mid-write
can only lose the entry being written (temp file + rename), concurrent processes never corrupt each
other, and the cache is inspectable with ``cat``.

An entry that cannot be read back as a completion (damaged JSON, ``null``, ``[]``, a missing or mistyped
field, an ``error`` finish) is a miss: the request is asked again, never answered from a guess.
:meth:`DiskCache.put_first` keeps the first usable answer of a key: when two processes sharing a cache
ask the same request at once, both end up using (and every later rerun reads) the same answer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from valuesfirst.llm.types import ChatResponse, FinishReason

_FINISHES = frozenset(get_args(FinishReason)) - {"error"}
_STR_FIELDS = ("text", "model")
_INT_FIELDS = ("input_tokens", "output_tokens")


def _response(data: Any) -> ChatResponse | None:
    """The completion an entry holds, or None when it is not one (written by hand, by a bug, cut off)."""
    if not isinstance(data, dict):
        return None
    if data.get("finish_reason") not in _FINISHES:
        return None
    if any(not isinstance(data.get(k), str) for k in _STR_FIELDS):
        return None
    if any(not isinstance(data.get(k, 0), int) or isinstance(data.get(k, 0), bool) for k in _INT_FIELDS):
        return None
    data = {**data, "cached": True, "error": None, "error_kind": None}
    try:
        return ChatResponse(**data)
    except TypeError:
        return None  # written by an incompatible version: re-ask rather than guess


class DiskCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(self.root)
        self._made: set[str] = set()  # shard folders known to exist: saves a mkdir syscall per write

    def _path(self, key: str) -> str:
        # os.path string joins: pathlib objects cost more than the rest of a cache lookup.
        return os.path.join(self._root, key[:2], key + ".json")

    def get(self, key: str) -> ChatResponse | None:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                data = json.loads(f.read())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None  # a damaged entry is re-asked, never trusted
        return _response(data)

    def _temp(self, key: str, response: ChatResponse) -> tuple[str, str]:
        path = self._path(key)
        shard = os.path.dirname(path)
        if shard not in self._made:
            os.makedirs(shard, exist_ok=True)
            self._made.add(shard)
        data = dict(vars(response))  # flat dataclass: no need for asdict's recursive copy
        data["cached"] = False
        payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
        fd, tmp = tempfile.mkstemp(dir=shard, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return tmp, path

    def put(self, key: str, response: ChatResponse) -> None:
        """Store ``response`` under ``key``, replacing any entry."""
        tmp, path = self._temp(key, response)
        try:
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_first(
        self, key: str, response: ChatResponse, usable: Callable[[ChatResponse], bool]
    ) -> ChatResponse:
        """Store ``response`` unless a usable entry is already there; return the entry that is kept.

        ``os.link`` creates the entry only if absent (atomic, like the rename of :meth:`put`); an entry
        that exists but is damaged or not ``usable`` is replaced.
        """
        tmp, path = self._temp(key, response)
        try:
            try:
                os.link(tmp, path)
                return response
            except FileExistsError:
                existing = self.get(key)
                if existing is not None and usable(existing):
                    return existing
                os.replace(tmp, path)
                return response
            except OSError:  # a filesystem without hard links: last writer wins
                os.replace(tmp, path)
                return response
        finally:
            Path(tmp).unlink(missing_ok=True)
