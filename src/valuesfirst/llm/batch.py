"""Provider batches (Anthropic Message Batches) behind :meth:`LLMClient.complete_many(use_batch=True)`.

Flow: cached requests are answered from the disk cache; the uncached ones (deduplicated by cache key)
go out as one batch per round, with ``custom_id`` = cache key; results land in the same cache. Items that
come back expired, canceled or overloaded are resubmitted in a new round, up to ``max_retries`` rounds;
permanent item errors count as failed.

Resume: before polling, the batch id and its keys are written to ``<cache_dir>/batches/<id>.json``
(atomically). A run killed while the batch is processing finds that ledger entry on restart and polls the
same batch instead of paying for a second one; the entry is removed once its results are cached. Without
a cache dir there is nothing to resume from, and batches still work within one process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from valuesfirst.jsonl import write_json
from valuesfirst.llm.types import (
    BatchCapable,
    ChatRequest,
    ChatResponse,
    PermanentBackendError,
    TransientBackendError,
)
from valuesfirst.provenance import redact_text

if TYPE_CHECKING:
    from valuesfirst.llm.client import LLMClient, Usable

log = logging.getLogger(__name__)

# Anthropic accepts up to 100,000 requests (256 MB) per batch; smaller chunks keep one bad upload cheap.
MAX_BATCH_ITEMS = 10_000

T = TypeVar("T")


class BatchLedger:
    """Pending batches of one cache dir: one JSON file per batch id."""

    def __init__(self, root: Path) -> None:
        self.root = root / "batches"

    def add(self, batch_id: str, model: str, keys: Sequence[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.root / f"{batch_id}.json", {"batch_id": batch_id, "model": model, "keys": list(keys)})

    def pending(self, model: str) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.root.glob("*.json")) if self.root.exists() else []:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue  # a damaged entry cannot be resumed; the requests are simply resubmitted
            if record.get("model") == model:
                out.append(record)
        return out

    def remove(self, batch_id: str) -> None:
        (self.root / f"{batch_id}.json").unlink(missing_ok=True)


class _Run:
    def __init__(self, client: LLMClient, backend: BatchCapable) -> None:
        self.client = client
        self.backend = backend
        self.model = client.backend.model
        self.ledger = BatchLedger(client.config.cache_dir) if client.config.cache_dir else None
        self.todo: dict[str, ChatRequest] = {}
        self.answers: dict[str, ChatResponse] = {}
        self.failures: dict[str, tuple[str, str]] = {}  # key -> (message, kind)
        self.usable: dict[str, Usable | None] = {}
        self.attempts: dict[str, int] = {}

    async def retrying(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Retry a batch control call (submit, poll, results) like a normal call."""
        attempt = 0
        while True:
            try:
                return await fn()
            except TransientBackendError as e:
                if attempt >= self.client.config.max_retries:
                    raise
                log.warning("batch %s failed (%s); retrying", what, redact_text(str(e)))
                await asyncio.sleep(self.client.backoff_delay(attempt, e.retry_after))
                attempt += 1

    async def collect(self, batch_id: str, keys: Sequence[str]) -> None:
        while not await self.retrying("poll", lambda: self.backend.batch_ended(batch_id)):
            await asyncio.sleep(self.client.config.batch_poll_s)
        results = await self.retrying("results", lambda: self.backend.batch_results(batch_id))
        for key in keys:
            out = results.get(key, TransientBackendError("missing from batch results"))
            request = self.todo.get(key)
            stage = self.client.usage.stage(request.stage if request else "batch-resumed")
            if isinstance(out, ChatResponse):
                usable = self.usable.get(key)
                self.answers[key] = self.client.record(stage, key, out, batch=True, usable=usable)
            elif key not in self.todo or key in self.answers:
                continue  # an item of a resumed batch this run does not need
            elif isinstance(out, PermanentBackendError):
                self.failures[key] = (str(out), out.kind)
            else:
                self.attempts[key] = self.attempts.get(key, 0) + 1
                if self.attempts[key] > self.client.config.max_retries:
                    message = f"gave up after {self.attempts[key]} batch rounds: {out}"
                    self.failures[key] = (message, out.kind)
                else:
                    stage.retries += 1
        if self.ledger is not None:
            self.ledger.remove(batch_id)

    def open_keys(self) -> list[str]:
        return [k for k in self.todo if k not in self.answers and k not in self.failures]

    async def resume(self) -> None:
        if self.ledger is None:
            return
        for record in self.ledger.pending(self.model):
            if not set(record["keys"]) & set(self.open_keys()):
                continue  # someone else's batch (another run sharing this cache); leave it alone
            log.info("resuming batch %s (%d requests)", record["batch_id"], len(record["keys"]))
            batch_id = redact_text(str(record["batch_id"]))
            try:
                await self.collect(record["batch_id"], record["keys"])
            except PermanentBackendError as e:  # e.g. the batch expired from the provider's records
                log.warning(
                    "cannot resume batch %s (%s); resubmitting its requests", batch_id, redact_text(str(e))
                )
                self.ledger.remove(record["batch_id"])
            except TransientBackendError as e:
                # The provider is unreachable now. Resubmitting would pay twice if the batch did run, so
                # these requests fail for this run and the ledger entry stays for the next one.
                for k in set(record["keys"]) & set(self.open_keys()):
                    message = f"batch {batch_id} not collected yet ({e}); rerun to resume"
                    self.failures[k] = (message, e.kind)

    async def submit_rounds(self) -> None:
        while keys := self.open_keys():
            for start in range(0, len(keys), MAX_BATCH_ITEMS):
                chunk = keys[start : start + MAX_BATCH_ITEMS]
                items = [(k, self.todo[k]) for k in chunk]
                try:
                    batch_id = await self.retrying("submit", partial(self.backend.batch_submit, items))
                except (TransientBackendError, PermanentBackendError) as e:
                    for k in chunk:
                        self.failures[k] = (f"batch submit failed: {e}", e.kind)
                    continue
                if self.ledger is not None:
                    self.ledger.add(batch_id, self.model, chunk)  # before polling: a kill now can resume
                try:
                    await self.collect(batch_id, chunk)
                except (TransientBackendError, PermanentBackendError) as e:
                    # Poll/results kept failing: the ledger entry stays, so the next run resumes this batch.
                    for k in chunk:
                        self.failures[k] = (f"batch {batch_id} not collected: {e}", e.kind)


async def complete_via_batch(
    client: LLMClient,
    requests: Sequence[ChatRequest],
    *,
    on_done: Callable[[ChatResponse], None],
    usable: Sequence[Usable | None] | None = None,
) -> list[ChatResponse]:
    """Answers in request order. ``usable[i]`` decides whether the answer to ``requests[i]`` is final
    (cached; a cached answer it rejects is asked again); None: every completed answer."""
    from valuesfirst.llm.client import completed

    backend = client.backend
    if not isinstance(backend, BatchCapable):
        raise ValueError(f"backend {backend.name!r} does not support provider batches")
    run = _Run(client, backend)
    keys = [r.cache_key(backend.model) for r in requests]
    from_cache: dict[int, ChatResponse] = {}
    for i, (request, key) in enumerate(zip(requests, keys, strict=True)):
        accept = usable[i] if usable is not None else None
        hit = client.cache.get(key) if client.cache is not None else None
        if hit is not None and (accept or completed)(hit):
            from_cache[i] = hit
        else:
            run.todo.setdefault(key, request)
            run.usable.setdefault(key, accept)
    await run.resume()
    await run.submit_rounds()

    out: list[ChatResponse] = []
    first_use: set[str] = set()
    for i, (request, key) in enumerate(zip(requests, keys, strict=True)):
        usage = client.usage.stage(request.stage)
        usage.calls += 1
        if i in from_cache:
            usage.cached += 1
            resp = from_cache[i]
        elif key in run.answers:
            resp = run.answers[key]
            if key in first_use:  # a duplicate request in this call: answered by the same item, unpaid
                usage.shared += 1
            first_use.add(key)
        else:
            usage.failed += 1
            message, kind = run.failures.get(key, ("no batch result", "batch_missing"))
            resp = ChatResponse(
                text="",
                finish_reason="error",
                model=backend.model,
                error=redact_text(message),
                error_kind=kind,
            )
        on_done(resp)
        out.append(resp)
    return out
