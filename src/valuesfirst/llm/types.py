"""The backend protocol every LLM implementation speaks.

Kept deliberately small: one async call that maps a chat request to a completion. Everything else a
production client needs (disk cache, concurrency and rate limits, retries with backoff, token and cost
accounting, progress) lives in one wrapper that works for every backend alike, so a fault-handling fix
lands once.

Requests are frozen and hashable-by-content (``cache_key``): the cache, resume and deduplication of
identical calls all hang off that key. ``sample`` distinguishes deliberate repeats of the same prompt
(n samples at temperature 1) that must *not* collapse into one cached answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "refusal", "error"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings sent with a request.

    temperature: 1.0 by default (the MSM generation scripts use 1.0); judges pin 0.0.
    max_tokens: completion budget; a completion that hits it finishes with ``"length"`` and pipelines
        treat its tagged blocks as unclosed (rejected and counted, never kept truncated).
    top_p / seed: passed through where the backend supports them, else ignored.
    stop: stop sequences.
    """

    temperature: float = 1.0
    max_tokens: int = 1024
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion call.

    system: the system prompt, kept apart from ``messages`` because Anthropic takes it separately.
    sample: index of a deliberate repeat of the same prompt (0, 1, 2 …): part of the cache key.
    stage: the pipeline stage that asked (for per-stage token and cost accounting); not in the key.
    """

    messages: tuple[Message, ...]
    params: SamplingParams = field(default_factory=SamplingParams)
    system: str | None = None
    sample: int = 0
    stage: str = "default"

    @staticmethod
    def of(
        user: str,
        *,
        system: str | None = None,
        params: SamplingParams | None = None,
        sample: int = 0,
        stage: str = "default",
    ) -> ChatRequest:
        return ChatRequest(
            messages=(Message("user", user),),
            params=params or SamplingParams(),
            system=system,
            sample=sample,
            stage=stage,
        )

    def cache_key(self, model: str) -> str:
        """sha256 over (model, system, messages, params, sample) — everything that shapes the answer."""
        # Plain dicts rather than dataclasses.asdict (which deep-copies recursively and was a third of the
        # client's per-call overhead); the JSON, and so the key, is the same.
        payload = {
            "model": model,
            "system": self.system,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "params": dict(vars(self.params)),
            "sample": self.sample,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChatResponse:
    """A completion.

    finish_reason: ``stop`` (natural end), ``length`` (hit max_tokens: treat as truncated), ``refusal``
        (provider-side refusal), ``error`` (never produced by a backend; the client uses it for calls that
        failed after all retries so callers can count them without try/except).
    cached: True when served from the disk cache (costs nothing).
    reasoning: the model's separate reasoning channel, when the server returns one (vLLM and other
        OpenAI-compatible servers' ``reasoning_content``); "" otherwise. Not part of ``text``.
    error / error_kind: for ``error`` only: what went wrong (redacted of secrets) and a short counter key
        for it (``http_401``, ``connection``, ``timeout``, ``attempt_timeout``, ``deadline``, ...).
    """

    text: str
    finish_reason: FinishReason
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    error: str | None = None
    error_kind: str | None = None
    reasoning: str = ""


class BackendError(Exception):
    """A backend call failed. ``kind`` is a short counter key for why (``http_503``, ``connection``...)."""

    def __init__(self, message: str, *, kind: str = "backend_error") -> None:
        super().__init__(message)
        self.kind = kind


class TransientBackendError(BackendError):
    """Worth retrying: HTTP 429, 5xx, timeouts, dropped connections."""

    def __init__(self, message: str, retry_after: float | None = None, *, kind: str = "transient") -> None:
        super().__init__(message, kind=kind)
        self.retry_after = retry_after


class PermanentBackendError(BackendError):
    """Not worth retrying: bad request, authentication, unknown model, missing key."""

    def __init__(self, message: str, *, kind: str = "permanent") -> None:
        super().__init__(message, kind=kind)


@runtime_checkable
class Backend(Protocol):
    """An LLM that answers chat requests.

    ``model`` names the model as the cache and manifests record it (e.g. ``"gpt-4o-mini"``);
    ``name`` names the backend kind (``"openai"``, ``"anthropic"``, ``"local"``, ``"scripted"``).
    ``complete`` raises :class:`TransientBackendError` or :class:`PermanentBackendError` on failure and
    never retries itself (the client does, uniformly).
    """

    name: str
    model: str

    async def complete(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class BatchCapable(Protocol):
    """A backend that can also answer many requests as one asynchronous provider batch (cheaper, slower).

    ``custom_id`` values are the requests' cache keys (64 hex chars), so results map straight into the
    cache. :meth:`batch_results` returns, per custom_id, a response or the BackendError that item met
    (transient: expired, canceled, overloaded — worth resubmitting; permanent: a bad request).
    """

    async def batch_submit(self, items: Sequence[tuple[str, ChatRequest]]) -> str: ...

    async def batch_ended(self, batch_id: str) -> bool: ...

    async def batch_results(self, batch_id: str) -> dict[str, ChatResponse | BackendError]: ...
