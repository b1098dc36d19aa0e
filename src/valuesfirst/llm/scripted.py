"""A deterministic offline backend for tests, demos and benchmarks.

Answers come from a user-supplied function of the request (or a list of regex rules), so pipeline tests
can script exactly the outputs they need, including hostile ones: unclosed tags, refusals, empty text,
transient failures on chosen calls.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

from valuesfirst.llm.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    PermanentBackendError,
    TransientBackendError,
)

Responder = Callable[[ChatRequest], "str | ChatResponse | BaseException"]


@dataclass
class Rule:
    """Answer ``reply`` (a string, or a function of the regex match and request) when ``pattern``
    matches the last user message."""

    pattern: str
    reply: str | Callable[[re.Match[str], ChatRequest], str]


def _approx_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


class ScriptedBackend:
    """Backend whose answers are scripted.

    responder: called with each request; returns the completion text, a full ChatResponse, or an
        exception instance to raise (e.g. ``TransientBackendError("429")``) to simulate faults.
    rules: alternatively, regex rules tried in order against the last user message; the first match
        answers. A request no rule matches raises PermanentBackendError naming the message, so a test
        never silently gets an empty answer.
    latency: seconds to sleep per call (0 for the overhead benchmark).
    """

    name = "scripted"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        rules: list[Rule] | None = None,
        model: str = "scripted",
        latency: float = 0.0,
    ) -> None:
        if responder is None and not rules:
            raise ValueError("ScriptedBackend needs a responder or rules")
        self.model = model
        self._responder = responder
        self._rules = [(re.compile(r.pattern, re.S), r.reply) for r in rules or []]
        self._latency = latency
        self.calls: list[ChatRequest] = []

    def _answer(self, request: ChatRequest) -> str | ChatResponse | BaseException:
        if self._responder is not None:
            return self._responder(request)
        last = request.messages[-1].content if request.messages else ""
        for pattern, reply in self._rules:
            m = pattern.search(last)
            if m:
                return reply(m, request) if callable(reply) else reply
        raise PermanentBackendError(f"scripted backend has no rule for: {last[:120]!r}")

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        if self._latency:
            await asyncio.sleep(self._latency)
        out = self._answer(request)
        if isinstance(out, BaseException):
            raise out
        if isinstance(out, ChatResponse):
            return out
        finish: FinishReason = "stop"
        return ChatResponse(
            text=out,
            finish_reason=finish,
            model=self.model,
            input_tokens=sum(_approx_tokens(m.content) for m in request.messages)
            + _approx_tokens(request.system or ""),
            output_tokens=_approx_tokens(out),
        )

    async def aclose(self) -> None:
        return None


__all__ = ["Rule", "ScriptedBackend", "TransientBackendError", "PermanentBackendError"]
