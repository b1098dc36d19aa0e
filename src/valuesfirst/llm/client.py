"""The one wrapper every backend runs behind: disk cache, concurrency limit, retries, accounting.

Pipelines call :meth:`LLMClient.complete` / :meth:`LLMClient.complete_many`. These never raise for a
failed call: after retries are exhausted (or on a permanent error) they return a response with
``finish_reason="error"`` so the caller excludes and *counts* it (never keeps it, never scores it).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from valuesfirst.llm.cache import DiskCache
from valuesfirst.llm.types import (
    Backend,
    ChatRequest,
    ChatResponse,
    PermanentBackendError,
    TransientBackendError,
)


class ClientConfig(BaseModel):
    """How calls are made.

    concurrency: most requests in flight at once (default 16); the loopback benchmark shows throughput
        against it.
    max_retries: retries of a transient failure (429, 5xx, timeout) before the call counts as failed.
    backoff_base_s / backoff_max_s: exponential backoff base*2**attempt capped at max, with full jitter;
        a server's Retry-After overrides it when larger.
    cache_dir: where completions are cached (None: no cache). The cache is what makes a killed run resume
        without paying twice.
    """

    model_config = {"extra": "forbid"}

    concurrency: int = Field(16, ge=1, le=4096)
    max_retries: int = Field(6, ge=0, le=50)
    backoff_base_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(60.0, ge=0.0)
    cache_dir: Path | None = None


@dataclass
class StageUsage:
    calls: int = 0
    cached: int = 0
    failed: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Usage:
    by_stage: dict[str, StageUsage] = field(default_factory=dict)

    def stage(self, name: str) -> StageUsage:
        return self.by_stage.setdefault(name, StageUsage())


class LLMClient:
    def __init__(self, backend: Backend, config: ClientConfig | None = None) -> None:
        self.backend = backend
        self.config = config or ClientConfig()
        self.cache = DiskCache(self.config.cache_dir) if self.config.cache_dir else None
        self.usage = Usage()
        self._sem: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        # Created lazily so it binds to the running event loop, not the one (if any) at construction.
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.concurrency)
        return self._sem

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
                    resp = await self.backend.complete(request)
                    break
                except TransientBackendError as e:
                    if attempt >= self.config.max_retries:
                        usage.failed += 1
                        return self._failed(f"gave up after {attempt + 1} attempts: {e}")
                    usage.retries += 1
                    delay = min(self.config.backoff_max_s, self.config.backoff_base_s * 2**attempt)
                    delay = random.uniform(0, delay)  # full jitter: retries from many tasks spread out
                    if e.retry_after is not None:
                        delay = max(delay, min(e.retry_after, self.config.backoff_max_s))
                    attempt += 1
                    await asyncio.sleep(delay)
                except PermanentBackendError as e:
                    usage.failed += 1
                    return self._failed(str(e))
        usage.input_tokens += resp.input_tokens
        usage.output_tokens += resp.output_tokens
        # Only clean completions are cached: a truncated or refused answer is a fact about this call
        # worth re-asking on a rerun (e.g. after raising max_tokens, which changes the key anyway).
        if self.cache is not None and resp.finish_reason in ("stop", "length", "refusal"):
            self.cache.put(key, resp)
        return resp

    def _failed(self, message: str) -> ChatResponse:
        return ChatResponse(text="", finish_reason="error", model=self.backend.model, error=message)

    async def complete_many(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answers in request order; concurrency is bounded by ``config.concurrency``."""
        return list(await asyncio.gather(*(self.complete(r) for r in requests)))

    async def aclose(self) -> None:
        await self.backend.aclose()
