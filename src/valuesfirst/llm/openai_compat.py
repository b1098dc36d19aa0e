"""OpenAI-compatible chat completions: OpenAI, vLLM, SGLang, Ollama, Together, any server speaking
``/v1/chat/completions``, through the official ``openai`` package.

The SDK's own retries are off (``max_retries=0``): the client layer retries every backend the same way,
with the same backoff and the same accounting, so one request never hides several paid attempts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from valuesfirst.llm._errors import map_sdk_error
from valuesfirst.llm.types import ChatRequest, ChatResponse, FinishReason, TransientBackendError
from valuesfirst.provenance import redact_text

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "refusal",
    # A tool/function call is not a text answer; pipelines only ask for text, so treat it as a plain end
    # and let the (usually empty) text fail the caller's parsing, where it is counted.
    "tool_calls": "stop",
    "function_call": "stop",
}


class OpenAICompatBackend:
    """Chat completions against ``base_url`` (None: api.openai.com).

    model: the model name sent to the server and recorded in the cache key and manifests.
    api_key: passed to the SDK only; never logged, stored or shown in ``repr``. Local servers (vLLM,
        Ollama) accept any placeholder.
    timeout_s: per-attempt HTTP timeout; a timeout is a transient error (the client retries it).
    max_tokens_field: ``max_tokens`` (vLLM, SGLang, Ollama, Together) or ``max_completion_tokens``
        (OpenAI; required by its reasoning models).
    name: backend kind recorded in manifests ("openai", "vllm", "ollama", "together", ...).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str,
        timeout_s: float = 120.0,
        max_tokens_field: str = "max_tokens",
        name: str = "openai",
    ) -> None:
        import openai  # lazy: importing the SDK costs ~0.3 s and most commands never call an API

        self._sdk = openai
        self.model = model
        self.name = name
        self.base_url = base_url
        self._max_tokens_field = max_tokens_field
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def __repr__(self) -> str:
        return f"OpenAICompatBackend(model={self.model!r}, base_url={redact_text(str(self.base_url))!r})"

    @property
    def chat_url(self) -> str:
        """The full chat-completions URL (what other HTTP clients, e.g. Ray's, POST the payload to)."""
        return str(self._client.base_url).rstrip("/") + "/chat/completions"

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header the SDK sends, for other HTTP clients of the same endpoint. The key is
        registered as a secret (factory), so it is redacted wherever text is written."""
        return {"Authorization": f"Bearer {self._client.api_key}"}

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of ``request``: the one every transport sends, so answers and cache keys agree."""
        messages: list[dict[str, str]] = []
        if request.system is not None:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)
        p = request.params
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": p.temperature,
            self._max_tokens_field: p.max_tokens,
        }
        if p.top_p is not None:
            payload["top_p"] = p.top_p
        if p.seed is not None:
            payload["seed"] = p.seed
        if p.stop:
            payload["stop"] = list(p.stop)
        return payload

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            resp = await self._client.chat.completions.create(**self.payload(request))
        except Exception as exc:  # mapped below; anything unknown propagates as a bug
            mapped = map_sdk_error(exc, self._sdk, self.name)
            if mapped is None:
                raise
            raise mapped from exc
        return chat_response(resp, model=self.model, provider=self.name)

    async def aclose(self) -> None:
        await self._client.close()


def _field(obj: Any, name: str) -> Any:
    """``name`` of an SDK object (its extra fields included) or of the JSON dict it was parsed from."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return value


def chat_response(resp: Any, *, model: str, provider: str) -> ChatResponse:
    """The ChatResponse of a chat completion: the SDK's object, or the same JSON as a dict (the body
    another HTTP client, e.g. Ray Data's, received). One conversion for both, so a corpus does not depend
    on the transport. A body with no choices is a transient failure (``no_choices``)."""
    choices = _field(resp, "choices")
    if not choices:
        # Seen from overloaded OpenAI-compatible servers: a 200 with no choices. Another try helps.
        raise TransientBackendError(f"{provider} returned no choices", kind="no_choices")
    choice = choices[0]
    message = _field(choice, "message") or {}
    refusal = _field(message, "refusal")
    finish: FinishReason = "refusal" if refusal else _FINISH.get(str(_field(choice, "finish_reason")), "stop")
    usage = _field(resp, "usage")
    return ChatResponse(
        # Empty or None content with finish "stop" is a valid (empty) answer: callers decide what an
        # empty completion means (generation pipelines reject and count it).
        # A refusal comes as ``refusal`` text with null content; keep its words as the text.
        text=_field(message, "content") or refusal or "",
        finish_reason=finish,
        model=model,
        input_tokens=int(_field(usage, "prompt_tokens") or 0) if usage else 0,
        output_tokens=int(_field(usage, "completion_tokens") or 0) if usage else 0,
        # vLLM's reasoning parsers (and several other servers) return the thinking apart from the
        # answer, as `reasoning_content` (newer vLLM: `reasoning`); dropping it loses what a judge of
        # the agent's decision needs to read.
        reasoning=_reasoning(message),
    )


def _reasoning(message: Any) -> str:
    for name in ("reasoning_content", "reasoning"):
        value = _field(message, name)
        if isinstance(value, str) and value:
            return value
    return ""
