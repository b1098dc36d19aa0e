"""Levels: one batch of LLM calls, strict parsing, counted failures, an atomic checkpoint.

A level's output is ``levels/<name>.jsonl`` plus ``levels/<name>.json`` (its key and counts), written
atomically in that order once the level completes; the ``.json`` is the commit marker. A rerun whose
level key matches loads the rows instead of recomputing them. A level killed midway is recomputed, but
every call that finished before the kill is answered from the LLMClient disk cache, so nothing finished
is paid for twice and the result is the same: requests are built deterministically from the upstream
rows and ``complete_many`` returns answers in request order, whatever order they complete in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from valuesfirst.generate.parsing import ParseFailure, parse_json_list, require_str, stable_id
from valuesfirst.jsonl import read_json, read_jsonl, write_json, write_jsonl
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse

T = TypeVar("T")
Row = dict[str, Any]


@dataclass
class LevelStats:
    """Counts of one level. ``failed`` (calls that errored, outputs that did not parse, unclosed blocks)
    feed the failure threshold; ``dropped`` (duplicates, judge exclusions, filters) are intended."""

    level: str
    calls: int = 0
    kept: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def fail(self, reason: str, n: int = 1) -> None:
        self.failed[reason] += n

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    @property
    def failure_rate(self) -> float:
        bad = sum(self.failed.values())
        return bad / (bad + self.kept) if bad + self.kept else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "calls": self.calls,
            "kept": self.kept,
            "failed": dict(sorted(self.failed.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "failure_rate": round(self.failure_rate, 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelStats:
        return cls(
            level=data["level"],
            calls=data["calls"],
            kept=data["kept"],
            failed=Counter(data["failed"]),
            dropped=Counter(data["dropped"]),
        )

    def summary(self) -> str:
        failed = ", ".join(f"{k}={v}" for k, v in sorted(self.failed.items())) or "none"
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        return (
            f"level {self.level}: {self.calls} calls, kept {self.kept}, failed [{failed}], "
            f"dropped [{dropped}], failure rate {self.failure_rate:.1%}"
        )


def take(items: list[object], n: int, stats: LevelStats) -> list[object]:
    """The first `n` items; the rest are dropped as ``extra``."""
    if len(items) > n:
        stats.drop("extra", len(items) - n)
    return items[:n]


def json_objects(text: str, n: int, stats: LevelStats, *keys: str) -> list[tuple[Any, dict[str, str]]]:
    """The first `n` items of the ``<output>`` JSON list, each with its named non-empty string fields
    (see parsing.require_str); items lacking one are counted as failures and skipped. A missing or
    malformed list raises ParseFailure, which the level counts."""
    objects = []
    for item in take(parse_json_list(text), n, stats):
        try:
            objects.append((item, require_str(item, *keys)))
        except ParseFailure as exc:
            stats.fail(exc.reason)
    return objects


class StageFailed(Exception):
    """A level's failure rate passed the configured threshold; the run stops instead of producing a
    silently thin corpus."""

    def __init__(self, stats: LevelStats, threshold: float) -> None:
        self.stats = stats
        self.threshold = threshold
        super().__init__(
            f"{stats.summary()}; above the failure threshold {threshold:.0%}. Nothing downstream was "
            "generated. Inspect the failures (e.g. raise max_tokens for unclosed blocks) and rerun: "
            "finished calls come from the cache."
        )


class LevelStore:
    """Checkpoints under ``root/levels``; ``key_base`` hashes everything that shapes the outputs."""

    def __init__(self, root: Path, key_base: str) -> None:
        self.dir = Path(root) / "levels"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key_base = key_base

    def key(self, level: str) -> str:
        return stable_id(self.key_base, level)

    def load(self, level: str) -> tuple[list[Row], LevelStats] | None:
        meta_path = self.dir / f"{level}.json"
        if not meta_path.exists():
            return None
        meta = read_json(meta_path)
        if meta.get("key") != self.key(level):
            return None  # a different config or spec made it: recompute (cached calls stay free)
        return read_jsonl(self.dir / f"{level}.jsonl"), LevelStats.from_json(meta["stats"])

    def save(self, level: str, rows: Sequence[Row], stats: LevelStats) -> None:
        write_jsonl(self.dir / f"{level}.jsonl", rows)
        write_json(self.dir / f"{level}.json", {"key": self.key(level), "stats": stats.to_json()})


@dataclass
class Runner:
    """Runs levels through one client. ``progress`` shows a rich bar per level; ``use_batch`` sends
    uncached calls as provider batches (half price, slower) where the backend supports it."""

    client: LLMClient
    store: LevelStore
    threshold: float
    progress: bool = False
    use_batch: bool = False
    stats: dict[str, LevelStats] = field(default_factory=dict)
    judge_client: LLMClient | None = None
    """Client for judge levels (``judge=True``); None: the generator judges its own samples."""

    async def calls(
        self, level: str, requests: Sequence[ChatRequest], judge: bool = False
    ) -> list[ChatResponse]:
        client = self.judge_client if judge and self.judge_client is not None else self.client
        return await client.complete_many(
            requests, progress=level if self.progress else False, use_batch=self.use_batch
        )

    async def level(
        self,
        name: str,
        items: Sequence[T],
        build: Callable[[T], ChatRequest],
        parse: Callable[[T, str, LevelStats], list[Row]],
        *,
        judge: bool = False,
    ) -> list[Row]:
        """Run one call per item, parse each answer into rows, drop duplicate ids, check the threshold,
        checkpoint. A finished checkpoint with the same key is returned without any call."""
        done = self.store.load(name)
        if done is not None:
            self.stats[name] = done[1]
            return done[0]
        stats = LevelStats(level=name)
        responses = await self.calls(name, [build(item) for item in items], judge=judge)
        rows: list[Row] = []
        for item, response in zip(items, responses, strict=True):
            stats.calls += 1
            if response.finish_reason == "error":
                stats.fail("call_error")
                continue
            if response.finish_reason == "refusal":
                stats.fail("refusal")
                continue
            try:
                rows.extend(parse(item, response.text, stats))
            except ParseFailure as exc:
                stats.fail(exc.reason)
        rows = self.finish(stats, rows)
        self.store.save(name, rows, stats)
        return rows

    def finish(self, stats: LevelStats, rows: list[Row]) -> list[Row]:
        """Drop rows whose id repeats an earlier one, count kept rows, enforce the threshold."""
        seen: set[str] = set()
        unique: list[Row] = []
        for row in rows:
            if row["id"] in seen:
                stats.drop("duplicate")
                continue
            seen.add(row["id"])
            unique.append(row)
        stats.kept = len(unique)
        self.stats[stats.level] = stats
        if stats.failure_rate > self.threshold:
            raise StageFailed(stats, self.threshold)
        return unique
