"""Levels: one batch of LLM calls, strict parsing, counted failures, an atomic checkpoint.

A level's output is ``levels/<name>.jsonl`` plus ``levels/<name>.json`` (see :mod:`checkpoints`). A rerun
whose level key (config, upstream rows) matches loads the rows instead of recomputing them, unless the
level had failed calls: those are asked again. A level killed or stopped midway is
recomputed, and every answer it could use is served from the LLMClient disk cache, so nothing usable is
paid for twice and the result is the same: requests are built deterministically from the upstream rows
and ``complete_many`` returns answers in request order, whatever order they complete in.

Only **usable** answers are cached as final: an answer that errored, was refused, was cut off at
max_tokens, did not parse, or yielded nothing but failed items is counted (see :mod:`level_stats`) and
asked again by the next run. A level stops the run (:class:`StageFailed`) when its failed calls or failed
rows pass the threshold, and as soon as the failed calls alone make that certain, without waiting for the
calls still in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from valuesfirst.generate.checkpoints import LevelStore
from valuesfirst.generate.engines import BulkEngine
from valuesfirst.generate.level_stats import LevelStats, StageFailed
from valuesfirst.generate.parsing import ParseFailure, parse_json_list, require_str
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse

__all__ = ["LevelStats", "LevelStore", "Row", "Runner", "StageFailed", "json_objects", "take"]

T = TypeVar("T")
Row = dict[str, Any]
Parse = Callable[[T, str, LevelStats], list[Row]]


def take(items: list[object], n: int, stats: LevelStats) -> list[object]:
    """The first `n` items; the rest are dropped as ``extra``; fewer than `n` are failed rows
    (``short_list``): the level asked for them and did not get them."""
    if len(items) > n:
        stats.drop("extra", len(items) - n)
    elif len(items) < n:
        stats.fail("short_list", n - len(items), f"asked for {n} items, the answer had {len(items)}")
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
            stats.fail(exc.reason, example=str(exc))
    return objects


@dataclass
class Outcome:
    """What one answer gave the level: its rows, its counts, and whether it is usable (cached)."""

    rows: list[Row]
    stats: LevelStats
    usable: bool


def outcome(level: str, item: T, request: ChatRequest, response: ChatResponse, parse: Parse[T]) -> Outcome:
    """Judge one answer without touching the level's counts (it is judged again for the cache)."""
    stats = LevelStats(level=level, calls=1)
    if response.finish_reason == "error":
        stats.fail_call(f"call_error.{response.error_kind or 'unknown'}", response.error)
        return Outcome([], stats, False)
    if response.finish_reason == "refusal":
        stats.fail_call("refusal", f"refused: {response.text[:200]}")
        return Outcome([], stats, False)
    if response.finish_reason == "length":
        # Cut off at max_tokens: whatever it holds is unfinished (a block may close and the next be cut).
        max_tokens = request.params.max_tokens
        stats.fail_call("cut_off", f"hit max_tokens={max_tokens} after {response.output_tokens} tokens")
        return Outcome([], stats, False)
    try:
        rows = parse(item, response.text, stats)
    except ParseFailure as exc:
        excerpt = response.text.strip()[:120] or "(empty answer)"
        stats.fail_call(exc.reason, f"{exc}; answer began: {excerpt}")
        return Outcome([], stats, False)
    if not rows and stats.failed_rows:
        stats.failed_calls += 1  # every item failed: nothing in it is worth keeping
        return Outcome(rows, stats, False)
    return Outcome(rows, stats, True)


class _Judged(Generic[T]):
    """Outcomes by request index, each computed once per response object."""

    def __init__(self, level: str, items: Sequence[T], requests: Sequence[ChatRequest], parse: Parse[T]):
        self.level, self.items, self.requests, self.parse = level, items, requests, parse
        self._memo: dict[int, tuple[ChatResponse, Outcome]] = {}

    def __call__(self, i: int, response: ChatResponse) -> Outcome:
        hit = self._memo.get(i)
        if hit is not None and hit[0] is response:
            return hit[1]
        got = outcome(self.level, self.items[i], self.requests[i], response, self.parse)
        self._memo[i] = (response, got)
        return got


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
    bulk: BulkEngine | None = None
    """Transport of the bulk levels (``bulk=True``: documents, responses); None: the client's own."""

    async def level(
        self,
        name: str,
        items: Sequence[T],
        build: Callable[[T], ChatRequest],
        parse: Parse[T],
        *,
        judge: bool = False,
        target: int | None = None,
        bulk: bool = False,
    ) -> list[Row]:
        """Run one call per item, parse each answer into rows, drop duplicate ids, check the threshold,
        checkpoint. A finished checkpoint with the same key is returned without any call. ``target``:
        the rows this level is expected to keep (recorded; the run reports a shortfall). ``bulk``: one of
        the large levels, sent through :attr:`bulk` when the run has one."""
        done = self.store.load(name, items)
        if done is not None:
            self.stats[name] = done[1]
            return done[0]
        requests = [build(item) for item in items]
        judged = _Judged(name, items, requests, parse)
        live = LevelStats(level=name, calls=len(requests), target=target)
        self.stats[name] = live  # a manifest written on a stop shows the counts so far
        limit = self.threshold * len(requests)

        stop: list[StageFailed] = []

        def on_result(i: int, response: ChatResponse) -> None:
            if stop:  # answers that were already on their way when the level stopped
                raise stop[0]
            got = judged(i, response)
            live.merge(got.stats)
            live.kept += len(got.rows)  # before duplicates are removed: for a stop's summary only
            if not got.usable and live.failed_calls > limit:
                stop.append(StageFailed(live, self.threshold, early=True))
                raise stop[0]

        client = self.judge_client if judge and self.judge_client is not None else self.client
        if bulk and self.bulk is not None:
            responses = await self.bulk.complete_many(
                client,
                requests,
                progress=name if self.progress else False,
                usable=lambda i, response: judged(i, response).usable,
                on_result=on_result,
            )
        else:
            responses = await client.complete_many(
                requests,
                progress=name if self.progress else False,
                use_batch=self.use_batch,
                usable=lambda i, response: judged(i, response).usable,
                on_result=on_result,
            )
        stats = LevelStats(level=name, calls=len(requests), target=target)
        rows: list[Row] = []
        for i, response in enumerate(responses):  # in request order: the same counts and examples
            got = judged(i, response)
            stats.merge(got.stats)
            rows.extend(got.rows)
        rows = self.finish(stats, rows)
        self.store.save(name, items, rows, stats)
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
