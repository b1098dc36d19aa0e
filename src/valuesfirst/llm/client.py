"""The one wrapper every backend runs behind: disk cache, concurrency and rate limits, timeouts, retries,
accounting, progress.

Pipelines call :meth:`LLMClient.complete` / :meth:`LLMClient.complete_many`. These never raise for a
failed call: after retries are exhausted (or on a permanent error) they return a response with
``finish_reason="error"`` so the caller excludes and *counts* it (never keeps it, never scores it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from pathlib import Path

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

__all__ = ["ClientConfig", "LLMClient", "StageUsage", "Usage"]


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
    timeout_s: wall-clock limit per attempt (default None: only the backend's own HTTP timeout applies).
        A timed-out attempt is a transient failure and is retried.
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
    timeout_s: float | None = Field(None, gt=0)
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    rate_burst_s: float = Field(1.0, gt=0)
    pricing: Pricing | None = None
    batch_poll_s: float = Field(30.0, ge=0.0)


class LLMClient:
    def __init__(self, backend: Backend, config: ClientConfig | None = None) -> None:
        self.backend = backend
        self.config = config or ClientConfig()
        self.cache = DiskCache(self.config.cache_dir) if self.config.cache_dir else None
        pricing = self.config.pricing or pricing_for(backend.model)
        source = None if pricing is None else "config" if self.config.pricing else f"built-in {PRICES_AS_OF}"
        self.usage = Usage(model=backend.model, pricing=pricing, pricing_source=source)
        self._sem: asyncio.Semaphore | None = None
        cfg = self.config
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

    async def _attempt(self, request: ChatRequest) -> ChatResponse:
        estimate = 0
        if self._rpm is not None:
            await self._rpm.acquire(1)
        if self._tpm is not None:
            chars = sum(len(m.content) for m in request.messages) + len(request.system or "")
            estimate = estimate_prompt_tokens(chars)
            await self._tpm.acquire(estimate)
        try:
            if self.config.timeout_s is None:
                resp = await self.backend.complete(request)
            else:
                resp = await asyncio.wait_for(self.backend.complete(request), self.config.timeout_s)
        except asyncio.TimeoutError as e:
            raise TransientBackendError(f"no answer within timeout_s={self.config.timeout_s}") from e
        if self._tpm is not None:
            self._tpm.charge(resp.input_tokens - estimate + resp.output_tokens)
        return resp

    async def complete(self, request: ChatRequest) -> ChatResponse:
        usage = self.usage.stage(request.stage)
        usage.calls += 1
        key = request.cache_key(self.backend.model)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                usage.cached += 1
                return hit
        attempt = 0
        async with self._semaphore():
            while True:
                try:
                    resp = await self._attempt(request)
                    break
                except TransientBackendError as e:
                    if attempt >= self.config.max_retries:
                        usage.failed += 1
                        return self._failed(f"gave up after {attempt + 1} attempts: {e}")
                    usage.retries += 1
                    delay = self.backoff_delay(attempt, e.retry_after)
                    attempt += 1
                    await asyncio.sleep(delay)
                except PermanentBackendError as e:
                    usage.failed += 1
                    return self._failed(str(e))
        self.record(usage, key, resp)
        return resp

    def record(self, usage: StageUsage, key: str, resp: ChatResponse, *, batch: bool = False) -> None:
        """Count a fresh (paid) response's tokens and cache it if it is a clean completion."""
        usage.input_tokens += resp.input_tokens
        usage.output_tokens += resp.output_tokens
        if batch:
            usage.batch_input_tokens += resp.input_tokens
            usage.batch_output_tokens += resp.output_tokens
        # Only clean completions are cached: a truncated or refused answer is a fact about this call
        # worth re-asking on a rerun (e.g. after raising max_tokens, which changes the key anyway).
        if self.cache is not None and resp.finish_reason in ("stop", "length", "refusal"):
            self.cache.put(key, resp)

    def _failed(self, message: str) -> ChatResponse:
        return ChatResponse(text="", finish_reason="error", model=self.backend.model, error=message)

    async def complete_many(
        self,
        requests: Sequence[ChatRequest],
        *,
        progress: bool | str = False,
        use_batch: bool = False,
    ) -> list[ChatResponse]:
        """Answers in request order; concurrency is bounded by ``config.concurrency``.

        progress: True or a description shows a rich progress bar (done, cached, failed, tokens, $).
        use_batch: submit the uncached requests as provider batches (half price, slower; the backend must
            implement :class:`~valuesfirst.llm.types.BatchCapable`, else ValueError). Results land in
            the same cache; a killed run resumes polling its pending batch instead of resubmitting.
        """
        from valuesfirst.llm.progress import CallProgress

        with CallProgress(self, len(requests), progress) as bar:
            if use_batch:
                from valuesfirst.llm.batch import complete_via_batch

                return await complete_via_batch(self, requests, on_done=bar.advance)
            return list(await asyncio.gather(*(self._tracked(r, bar.advance) for r in requests)))

    async def _tracked(self, request: ChatRequest, on_done: Callable[[ChatResponse], None]) -> ChatResponse:
        resp = await self.complete(request)
        on_done(resp)
        return resp

    async def aclose(self) -> None:
        await self.backend.aclose()
