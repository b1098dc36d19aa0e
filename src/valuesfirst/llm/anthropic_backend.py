"""Anthropic Messages API through the official ``anthropic`` package, plus Message Batches.

The system prompt travels in its own field (Anthropic has no system role in ``messages``). The SDK's
own retries are off (``max_retries=0``) so the client layer retries every backend uniformly.

Message Batches (half price, answered within 24 h) are exposed as three primitives (submit, ended?,
results) that :mod:`valuesfirst.llm.batch` drives; that module persists the batch id so a killed run
resumes polling the same batch instead of paying twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from valuesfirst.llm._errors import map_sdk_error
from valuesfirst.llm.types import (
    BackendError,
    ChatRequest,
    ChatResponse,
    FinishReason,
    PermanentBackendError,
    TransientBackendError,
)
from valuesfirst.provenance import redact_text

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "stop",  # pipelines ask for text only; an empty text then fails their parsing, counted
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
}

# Batch item error types another attempt can fix; the rest (invalid_request_error, ...) are permanent.
_TRANSIENT_ITEM_ERRORS = frozenset({"api_error", "overloaded_error", "rate_limit_error", "timeout_error"})


class AnthropicBackend:
    """Claude models via the Messages API.

    model: e.g. ``claude-sonnet-4-5``; recorded in the cache key and manifests.
    api_key: passed to the SDK only; never logged, stored or shown in ``repr``.
    base_url: None for api.anthropic.com; tests point it at a loopback server.
    timeout_s: per-attempt HTTP timeout; a timeout is a transient error.
    send_temperature: send ``temperature`` (and ``top_p`` when set). Default on; turn off for models
        that reject sampling parameters.
    """

    name = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        send_temperature: bool = True,
    ) -> None:
        import anthropic  # lazy: most commands never call an API

        self._sdk = anthropic
        self.model = model
        self.base_url = base_url
        self._send_temperature = send_temperature
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def __repr__(self) -> str:
        return f"AnthropicBackend(model={self.model!r}, base_url={redact_text(str(self.base_url))!r})"

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        p = request.params
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": p.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system is not None:
            params["system"] = request.system
        if p.stop:
            params["stop_sequences"] = list(p.stop)
        if self._send_temperature:
            params["temperature"] = p.temperature
            if p.top_p is not None:
                params["top_p"] = p.top_p
        # seed: the Messages API has none; it is still part of the cache key.
        return params

    def _mapped(self, exc: Exception) -> BackendError:
        mapped = map_sdk_error(exc, self._sdk, self.name)
        if mapped is None:
            raise exc
        return mapped

    def _response(self, message: Any) -> ChatResponse:
        text = "".join(
            getattr(block, "text", "")
            for block in message.content or []
            if getattr(block, "type", "") == "text"
        )
        stop = message.stop_reason
        usage = message.usage
        return ChatResponse(
            text=text,
            finish_reason=_STOP.get(str(stop), "stop") if stop is not None else "stop",
            model=self.model,
            input_tokens=int(usage.input_tokens) if usage else 0,
            output_tokens=int(usage.output_tokens) if usage else 0,
        )

    async def complete(self, request: ChatRequest) -> ChatResponse:
        params = self._params(request)
        # Sampling parameters go through extra_body: recent SDK versions no longer type them, the API
        # still accepts them for the models that support them.
        extra = {k: params.pop(k) for k in ("temperature", "top_p") if k in params}
        try:
            message = await self._client.messages.create(**params, extra_body=extra or None)
        except Exception as exc:
            raise self._mapped(exc) from exc
        return self._response(message)

    # -- Message Batches ---------------------------------------------------------------------------
    async def batch_submit(self, items: Sequence[tuple[str, ChatRequest]]) -> str:
        """Submit ``(custom_id, request)`` pairs as one batch; returns the batch id."""
        requests = [{"custom_id": cid, "params": self._params(req)} for cid, req in items]
        try:
            batch = await self._client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        except Exception as exc:
            raise self._mapped(exc) from exc
        return str(batch.id)

    async def batch_ended(self, batch_id: str) -> bool:
        try:
            batch = await self._client.messages.batches.retrieve(batch_id)
        except Exception as exc:
            raise self._mapped(exc) from exc
        return str(batch.processing_status) == "ended"

    async def batch_results(self, batch_id: str) -> dict[str, ChatResponse | BackendError]:
        out: dict[str, ChatResponse | BackendError] = {}
        try:
            async for item in await self._client.messages.batches.results(batch_id):
                out[item.custom_id] = self._item(item.result)
        except Exception as exc:
            raise self._mapped(exc) from exc
        return out

    def _item(self, result: Any) -> ChatResponse | BackendError:
        kind = str(result.type)
        if kind == "succeeded":
            return self._response(result.message)
        if kind == "errored":
            err = getattr(getattr(result, "error", None), "error", None)
            etype = str(getattr(err, "type", "api_error"))
            msg = redact_text(f"batch item errored: {etype}: {getattr(err, 'message', '')}")
            if etype in _TRANSIENT_ITEM_ERRORS:
                return TransientBackendError(msg, kind=f"batch_{etype}")
            return PermanentBackendError(msg, kind=f"batch_{etype}")
        # expired (not processed within 24 h) or canceled: nothing wrong with the request; resubmit.
        return TransientBackendError(f"batch item {kind}", kind=f"batch_{kind}")

    async def aclose(self) -> None:
        await self._client.close()
