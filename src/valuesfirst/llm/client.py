"""The one wrapper every backend runs behind: disk cache, concurrency and rate limits, deadlines, retries,
sharing of identical requests, accounting, progress.

Pipelines call :meth:`LLMClient.complete` / :meth:`LLMClient.complete_many`. These never raise for a
failed call: after retries are exhausted, the call's deadline has passed, or on a permanent error they
return a response with ``finish_reason="error"``, a redacted ``error`` message and an ``error_kind``, so
the caller excludes and *counts* it (never keeps it, never scores it) and can say why.

Only answers the caller can use are cached as final (``usable``; by default every answer that completed),
so a rerun asks again exactly what failed. Requests with the same cache key that are in flight at the
same time are sent once and share the answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from valuesfirst.llm.cache import DiskCache
from valuesfirst.llm.pricing import PRICES_AS_OF, Pricing, pricing_for
from valuesfirst.llm.ratelimit import TokenBucket, estimate_prompt_tokens
from valuesfirst.llm.types import (
    Backend,
    ChatRequest,
    ChatResponse,
    PermanentBackendError,
    TransientBackendError,
)
from valuesfirst.llm.usage import StageUsage, Usage
from valuesfirst.provenance import redact_text

__all__ = ["ClientConfig", "LLMClient", "StageUsage", "Usage", "completed"]

Usable = Callable[[ChatResponse], bool]

# Backends that generate in this process: a wall-clock limit cannot stop their work (a cancelled thread
# keeps running), and they cannot hang on a network, so no deadline applies to them.
IN_PROCESS_BACKENDS = frozenset({"local"})


def completed(response: ChatResponse) -> bool:
    """The default ``usable``: every answer that completed (stop, length, refusal) is final."""
    return response.finish_reason != "error"


class ClientConfig(BaseModel):
    """How calls are made.

    concurrency: most requests in flight at once (default 16); the loopback benchmark shows throughput
        against it.
    max_retries: retries of a transient failure (429, 5xx, timeout) before the call counts as failed
        (default 6). In batch mode: how many times items a batch returns as expired/overloaded are
        resubmitted.
    backoff_base_s / backoff_max_s: exponential backoff base*2**attempt capped at max, with full jitter;
        a server's Retry-After overrides it when larger (capped at backoff_max_s).
    cache_dir: where completions are cached (None: no cache). The cache is what makes a killed run resume
        without paying twice; batch mode also keeps its pending batch ids there.
    timeout_s: wall-clock limit of one attempt, from sending the request to the last byte of the answer
        (default 600 s, the openai and anthropic SDKs' own default; None: no limit). The SDKs' HTTP
        timeout is per read, so a server that trickles a byte every few seconds never trips it; this
        limit does. A timed-out attempt is a transient failure (``attempt_timeout``) and is retried.
    deadline_s: wall-clock limit of one call: all its attempts and the backoff between them (default
        1800 s: three full attempts; None: no limit). When it passes, the call fails with the last error,
        so a dead or trickling server costs each call at most this. Waiting for a concurrency slot or a
        rate limit does not count. Neither limit applies to in-process backends (``local``).
    requests_per_minute / tokens_per_minute: token-bucket rate limits (default None: unlimited). Tokens
        are pre-charged as an estimate of the prompt (chars/4); the completion and the estimate's error
        are charged when the answer arrives, so the long-run rate matches the limit. Retries count.
    rate_burst_s: how many seconds' worth of the rate may go out at once (default 1.0; at least 1 call).
    pricing: the price of this client's model; None (default) looks it up in the built-in approximate
        table (:func:`~valuesfirst.llm.pricing.pricing_for`), and an unknown model reports cost null.
    batch_poll_s: seconds between status polls of a provider batch (default 30).
    """

    model_config = {"extra": "forbid"}

    concurrency: int = Field(16, ge=1, le=4096)
    max_retries: int = Field(6, ge=0, le=50)
    backoff_base_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(60.0, ge=0.0)
    cache_dir: Path | None = None
    timeout_s: float | None = Field(600.0, gt=0)
    deadline_s: float | None = Field(1800.0, gt=0)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    rate_burst_s: float = Field(1.0, gt=0)
    pricing: Pricing | None = None
    batch_poll_s: float = Field(30.0, ge=0.0)


@dataclasses.dataclass
class _BackendUsage(Usage):
    """Usage whose summary also carries what the backend reports about itself (a
    :class:`~valuesfirst.llm.endpoints.MultiEndpointBackend`: per-endpoint counts and redacted URLs).
    Without a report the summary is exactly :meth:`Usage.to_json`'s."""

    report: Callable[[], dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.report is not None:
            out.update(self.report())
        return out


class _Deadline(Exception):
    """The call's deadline cut an attempt short."""


class LLMClient:
    def __init__(self, backend: Backend, config: ClientConfig | None = None) -> None:
        self.backend = backend
        self.config = config or ClientConfig()
        self.cache = DiskCache(self.config.cache_dir) if self.config.cache_dir else None
        pricing = self.config.pricing or pricing_for(backend.model)
        source = None if pricing is None else "config" if self.config.pricing else f"built-in {PRICES_AS_OF}"
        report = getattr(backend, "usage_report", None)
        self.usage: Usage = _BackendUsage(
            model=backend.model, pricing=pricing, pricing_source=source, report=report
        )
        self._sem: asyncio.Semaphore | None = None
        self._inflight: dict[str, asyncio.Future[ChatResponse]] = {}
        cfg = self.config
        in_process = getattr(backend, "name", None) in IN_PROCESS_BACKENDS
        self.timeout_s = None if in_process else cfg.timeout_s
        self.deadline_s = None if in_process else cfg.deadline_s
        self._rpm = (
            TokenBucket(cfg.requests_per_minute, burst_s=cfg.rate_burst_s)
            if cfg.requests_per_minute
            else None
        )
        self._tpm = (
            TokenBucket(cfg.tokens_per_minute, burst_s=cfg.rate_burst_s) if cfg.tokens_per_minute else None
        )

    def _semaphore(self) -> asyncio.Semaphore:
        # Created lazily so it binds to the running event loop, not the one (if any) at construction.
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.concurrency)
        return self._sem

    def backoff_delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (full jitter; Retry-After as a floor)."""
        delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2**attempt)
        delay = random.uniform(0, delay)  # full jitter: retries from many tasks spread out
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.backoff_max_s))
        return delay

    async def _attempt(self, request: ChatRequest, budget: float | None) -> ChatResponse:
        """One attempt, limited by ``timeout_s`` and by what is left of the call's deadline (``budget``)."""
        estimate = 0
        if self._rpm is not None:
            await self._rpm.acquire(1)
        if self._tpm is not None:
            chars = sum(len(m.content) for m in request.messages) + len(request.system or "")
            estimate = estimate_prompt_tokens(chars)
            await self._tpm.acquire(estimate)
        limit = self.timeout_s
        by_deadline = budget is not None and (limit is None or budget < limit)
        if by_deadline:
            limit = budget
        try:
            # asyncio.timeout, not wait_for: no extra task per attempt (wait_for halved the client's
            # throughput in benchmarks/llm_client.py).
            async with asyncio.timeout(None if limit is None else max(limit, 0.0)):
                resp = await self.backend.complete(request)
        except TimeoutError as e:
            if by_deadline:
                raise _Deadline from e
            raise TransientBackendError(
                f"no complete answer within timeout_s={self.timeout_s:g}", kind="attempt_timeout"
            ) from e
        if self._tpm is not None:
            self._tpm.charge(resp.input_tokens - estimate + resp.output_tokens)
        return resp

    async def complete(self, request: ChatRequest, *, usable: Usable | None = None) -> ChatResponse:
        """The answer to ``request``: from the cache when a usable one is there, else asked (once, however
        many identical requests are in flight). ``usable`` (default :func:`completed`) decides whether an
        answer is final: only usable answers are cached, and a cached one that is not is asked again."""
        usable = usable or completed
        usage = self.usage.stage(request.stage)
        usage.calls += 1
        key = request.cache_key(self.backend.model)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and usable(hit):
                usage.cached += 1
                return hit
        while (leader := self._inflight.get(key)) is not None:
            try:
                shared = await asyncio.shield(leader)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if leader.cancelled() and task is not None and not task.cancelling():
                    continue  # the asking task was cancelled, this one was not: ask in its place
                raise
            usage.shared += 1
            return dataclasses.replace(shared, cached=True) if shared.finish_reason != "error" else shared
        future: asyncio.Future[ChatResponse] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            resp = await self._ask(request, usage, key, usable)
        except BaseException:
            future.cancel()
            raise
        finally:
            del self._inflight[key]
        future.set_result(resp)
        return resp

    async def _ask(self, request: ChatRequest, usage: StageUsage, key: str, usable: Usable) -> ChatResponse:
        attempt = 0
        spent = 0.0  # seconds of this call's deadline used: attempts and backoff
        async with self._semaphore():
            while True:
                budget = None if self.deadline_s is None else self.deadline_s - spent
                started = time.monotonic()
                try:
                    resp = await self._attempt(request, budget)
                    break
                except _Deadline:
                    usage.failed += 1
                    return self._failed(
                        f"call deadline deadline_s={self.deadline_s:g} passed during attempt {attempt + 1}",
                        "deadline",
                    )
                except TransientBackendError as e:
                    spent += time.monotonic() - started
                    if attempt >= self.config.max_retries:
                        usage.failed += 1
                        return self._failed(f"gave up after {attempt + 1} attempts: {e}", e.kind)
                    delay = self.backoff_delay(attempt, e.retry_after)
                    if self.deadline_s is not None and spent + delay >= self.deadline_s:
                        usage.failed += 1
                        return self._failed(
                            f"call deadline deadline_s={self.deadline_s:g} passed after {attempt + 1} "
                            f"attempts; last error: {e}",
                            e.kind,
                        )
                    usage.retries += 1
                    attempt += 1
                    await asyncio.sleep(delay)
                    spent += delay
                except PermanentBackendError as e:
                    usage.failed += 1
                    return self._failed(str(e), e.kind)
        return self.record(usage, key, resp, usable=usable)

    def record(
        self,
        usage: StageUsage,
        key: str,
        resp: ChatResponse,
        *,
        batch: bool = False,
        usable: Usable | None = None,
    ) -> ChatResponse:
        """Count a fresh (paid) response's tokens and cache it if it is usable (default: it completed).

        Returns the answer to use: ``resp``, or the usable answer another process cached first under the
        same key (so every user of a cache sees one answer per key)."""
        usage.input_tokens += resp.input_tokens
        usage.output_tokens += resp.output_tokens
        if batch:
            usage.batch_input_tokens += resp.input_tokens
            usage.batch_output_tokens += resp.output_tokens
        usable = usable or completed
        if self.cache is not None and resp.finish_reason != "error" and usable(resp):
            return self.cache.put_first(key, resp, usable)
        return resp

    def _failed(self, message: str, kind: str) -> ChatResponse:
        return ChatResponse(
            text="",
            finish_reason="error",
            model=self.backend.model,
            error=redact_text(message),
            error_kind=kind,
        )

    async def complete_many(
        self,
        requests: Sequence[ChatRequest],
        *,
        progress: bool | str = False,
        use_batch: bool = False,
        usable: Callable[[int, ChatResponse], bool] | None = None,
        on_result: Callable[[int, ChatResponse], None] | None = None,
    ) -> list[ChatResponse]:
        """Answers in request order; concurrency is bounded by ``config.concurrency``.

        progress: True or a description shows a rich progress bar (done, cached, failed, tokens, $).
        use_batch: submit the uncached requests as provider batches (half price, slower; the backend must
            implement :class:`~valuesfirst.llm.types.BatchCapable`, else ValueError). Results land in
            the same cache; a killed run resumes polling its pending batch instead of resubmitting.
        usable: ``usable(i, response)``: whether the answer to ``requests[i]`` is final (cached); default:
            every answer that completed.
        on_result: called with ``(i, response)`` as each answer arrives; if it raises, the requests still
            in flight are cancelled (nothing of theirs is cached) and the exception propagates.
        """
        from valuesfirst.llm.progress import CallProgress

        def usable_for(i: int) -> Usable | None:
            return None if usable is None else (lambda resp: usable(i, resp))

        with CallProgress(self, len(requests), progress) as bar:
            if use_batch:
                from valuesfirst.llm.batch import complete_via_batch

                out = await complete_via_batch(
                    self, requests, on_done=bar.advance, usable=[usable_for(i) for i in range(len(requests))]
                )
                if on_result is not None:
                    for i, resp in enumerate(out):
                        on_result(i, resp)
                return out

            async def one(i: int, request: ChatRequest) -> ChatResponse:
                resp = await self.complete(request, usable=usable_for(i))
                bar.advance(resp)
                if on_result is not None:
                    on_result(i, resp)
                return resp

            tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(requests)]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    async def aclose(self) -> None:
        await self.backend.aclose()
