"""On-disk completion cache: one JSON file per request key, written atomically.

One file per entry (sharded by the first two hex digits) rather than one database: a SIGKILL mid-write
can only lose the entry being written (temp file + rename), concurrent processes never corrupt each
other, and the cache is inspectable with ``cat``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from valuesfirst.llm.types import ChatResponse


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
        data["cached"] = True
        try:
            return ChatResponse(**data)
        except TypeError:
            return None  # written by an incompatible version: re-ask rather than guess

    def put(self, key: str, response: ChatResponse) -> None:
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
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
