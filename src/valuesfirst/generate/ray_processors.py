"""The Ray Data processors of the Ray engine, built with Ray's documented API (``ray.data.llm``:
``HttpRequestProcessorConfig``, ``vLLMEngineProcessorConfig``, ``SGLangEngineProcessorConfig``,
``build_processor``), the rows they take and the answers their rows give back.

Input rows carry the request's cache key (``key``) and what the processor needs: ``payload``, the exact
JSON body the async client sends (HTTP), or ``messages`` and ``sampling_params`` (engines). Output rows
are ``{"key", "body"}`` (HTTP: the response JSON, as text, so no Arrow schema has to fit every answer),
``{"key", "text", "input_tokens", "output_tokens"}`` (engines) or, for an engine row that failed, the row
with a non-empty ``__inference_error__`` (``should_continue_on_error``).

The functions that run on Ray workers (``_http_out``, ``_engine_out``) use the standard library only and
are pickled by value (:func:`ship_by_value`), so workers need Ray, not valuesfirst.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from valuesfirst.generate.config import RayEngineConfig
from valuesfirst.llm._errors import error_from_body
from valuesfirst.llm.openai_compat import OpenAICompatBackend, chat_response
from valuesfirst.llm.types import ChatRequest, ChatResponse, PermanentBackendError
from valuesfirst.provenance import redact_text

HTTP_WORKERS = 4
"""Default HTTP workers per endpoint (``concurrency`` unset): each has one request in flight."""
ENGINE_REPLICAS = 1
"""Default engine replicas (``concurrency`` unset): each holds the model on its own GPUs."""


def _fixed(n: int, tasks: int | None = None) -> tuple[int, int]:
    """A pool of exactly ``n`` workers, or of ``tasks`` when a round has fewer batches than that (a worker
    without a batch is a process started for nothing). Ray's int ``concurrency`` is an autoscaling pool
    from 1 to n, which at low latency never grows (the benchmark saw 2-3 of 4 workers): then
    ``concurrency`` would not be the requests in flight per server that the config promises."""
    size = max(1, min(n, tasks)) if tasks is not None else n
    return (size, size)


def _plain(value: Any) -> Any:
    # Arrow hands nested lists back as numpy arrays; JSON wants lists.
    return value.tolist()


def _http_out(row: dict[str, Any]) -> dict[str, Any]:
    return {"key": row["key"], "body": json.dumps(row["http_response"], default=_plain)}


def _engine_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": row["key"],
        "text": row["generated_text"],
        "input_tokens": int(row["num_input_tokens"]),
        "output_tokens": int(row["num_generated_tokens"]),
    }


def ship_by_value() -> None:
    """Pickle this module's functions by value, so Ray workers run them without valuesfirst installed."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class HttpTarget:
    """One OpenAI-compatible endpoint, with its own HttpRequestProcessorConfig."""

    backend: OpenAICompatBackend

    @property
    def label(self) -> str:
        return f"endpoint {redact_text(str(self.backend.base_url or self.backend.chat_url))}"

    def row(self, key: str, request: ChatRequest) -> dict[str, Any]:
        return {"key": key, "payload": self.backend.payload(request)}

    def processor_config(
        self, cfg: RayEngineConfig, timeout_s: float | None, tasks: int | None = None
    ) -> Any:
        import functools

        import aiohttp
        from ray.data.llm import HttpRequestProcessorConfig

        # The attempt limit of the async client (timeout_s), headers to last byte: aiohttp's ``total``.
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        return HttpRequestProcessorConfig(
            url=self.backend.chat_url,
            headers=self.backend.auth_headers(),
            batch_size=cfg.batch_size,
            concurrency=_fixed(cfg.concurrency or HTTP_WORKERS, tasks),
            max_retries=cfg.http_retries,
            base_retry_wait_time_in_s=cfg.retry_wait_s,
            session_factory=functools.partial(aiohttp.ClientSession, timeout=timeout),
            http_request_stage={"num_cpus": cfg.worker_cpus},
        )

    def processor(self, cfg: RayEngineConfig, timeout_s: float | None, tasks: int | None = None) -> Any:
        from ray.data.llm import build_processor

        # The row maps around the HTTP stage reserve what its workers do: with Ray Data's default (a
        # whole CPU each) they wait behind the workers on a small cluster, and cannot be fused with them.
        light = {"num_cpus": cfg.worker_cpus}
        return build_processor(
            self.processor_config(cfg, timeout_s, tasks),
            postprocess=_http_out,
            preprocess_map_kwargs=light,
            postprocess_map_kwargs=light,
        )

    def answer(self, row: dict[str, Any], request: ChatRequest) -> ChatResponse:
        """The answer a row holds; raises the BackendError of an error body (a 400 or 500 that Ray's
        HTTP stage passes on as if it were an answer) or of a body with no choices."""
        body = json.loads(row["body"])
        name = self.backend.name
        error = error_from_body(body, name) if isinstance(body, dict) else None
        if error is not None:
            raise error
        return chat_response(body, model=self.backend.model, provider=name)


@dataclass(frozen=True)
class EngineTarget:
    """vLLM or SGLang running inside Ray workers on the cluster's GPUs (no server)."""

    kind: str  # "vllm" | "sglang"
    model: str  # the name in cache keys and manifests
    model_source: str  # what the engine loads

    @property
    def label(self) -> str:
        return f"{self.kind} engine {self.model_source}"

    def row(self, key: str, request: ChatRequest) -> dict[str, Any]:
        messages = [] if request.system is None else [{"role": "system", "content": request.system}]
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        return {"key": key, "messages": messages, "sampling_params": self.sampling(request)}

    def sampling(self, request: ChatRequest) -> dict[str, Any]:
        """vLLM's SamplingParams fields, or SGLang's sampling_params (``max_new_tokens``)."""
        p = request.params
        out: dict[str, Any] = {"temperature": p.temperature}
        out["max_new_tokens" if self.kind == "sglang" else "max_tokens"] = p.max_tokens
        if p.top_p is not None:
            out["top_p"] = p.top_p
        if p.stop:
            out["stop"] = list(p.stop)
        if p.seed is not None and self.kind == "vllm":
            out["seed"] = p.seed
        return out

    def processor_config(self, cfg: RayEngineConfig) -> Any:
        from ray.data.llm import SGLangEngineProcessorConfig, vLLMEngineProcessorConfig

        config_cls = SGLangEngineProcessorConfig if self.kind == "sglang" else vLLMEngineProcessorConfig
        return config_cls(
            model_source=self.model_source,
            engine_kwargs=dict(cfg.engine_kwargs),
            batch_size=cfg.batch_size,
            concurrency=_fixed(cfg.concurrency or ENGINE_REPLICAS),
            accelerator_type=cfg.accelerator_type,
            # A row the engine cannot answer (a prompt longer than max_model_len …) comes back with its
            # error instead of failing the whole job; it is excluded and counted.
            should_continue_on_error=True,
        )

    def processor(self, cfg: RayEngineConfig, timeout_s: float | None, tasks: int | None = None) -> Any:
        from ray.data.llm import build_processor

        # Every replica, however few the batches: an engine replica is started once per level anyway.
        return build_processor(self.processor_config(cfg), postprocess=_engine_out)

    def answer(self, row: dict[str, Any], request: ChatRequest) -> ChatResponse:
        """The engine's answer. Engines report no finish reason, so an answer that used its whole
        ``max_tokens`` is taken as cut off (``length``): one that happened to end on its last allowed
        token is excluded with the truncated ones rather than a truncated one kept."""
        error = row.get("__inference_error__")
        if error:
            raise PermanentBackendError(f"{self.label}: {redact_text(str(error))[:300]}", kind="engine_error")
        output_tokens = int(row["output_tokens"])
        return ChatResponse(
            text=str(row["text"] or ""),
            finish_reason="length" if output_tokens >= request.params.max_tokens else "stop",
            model=self.model,
            input_tokens=int(row["input_tokens"]),
            output_tokens=output_tokens,
        )
