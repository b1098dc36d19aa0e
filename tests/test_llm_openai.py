"""OpenAICompatBackend + LLMClient through the real ``openai`` SDK against the loopback server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from loopback_llm import LoopbackLLM, error, malformed, ok, slow, truncated

from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.openai_compat import OpenAICompatBackend
from valuesfirst.llm.types import ChatRequest, SamplingParams

FAKE_KEY = "sk" + "-test-" + "x" * 20


def _client(server: LoopbackLLM, tmp: Path | None = None, **cfg: object) -> LLMClient:
    backend = OpenAICompatBackend(
        "m-test",
        base_url=server.openai_base_url,
        api_key=FAKE_KEY,
        timeout_s=float(cfg.pop("http_timeout", 5.0)),
    )
    config = ClientConfig(backoff_base_s=0.001, backoff_max_s=2.0, cache_dir=tmp, **cfg)  # type: ignore[arg-type]
    return LLMClient(backend, config)


def _run(client: LLMClient, *requests: ChatRequest) -> list:
    async def go() -> list:
        try:
            return await client.complete_many(list(requests))
        finally:
            await client.aclose()

    return asyncio.run(go())


def _script(*replies):
    return lambda call: replies[min(call.index, len(replies) - 1)]


def test_payload_carries_system_first_and_sampling_params() -> None:
    with LoopbackLLM() as server:
        params = SamplingParams(temperature=0.0, max_tokens=33, top_p=0.9, seed=7, stop=("END",))
        [resp] = _run(_client(server), ChatRequest.of("hi there", system="be brief", params=params))
        body = server.requests[0].body
        assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert resp.text == "echo: hi there" and resp.finish_reason == "stop"
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi there"},
    ]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("m-test", 0.0, 33)
    assert (body["top_p"], body["seed"], body["stop"]) == (0.9, 7, ["END"])


def test_429_is_retried_after_the_retry_after_header() -> None:
    with LoopbackLLM(_script(error(429, retry_after=0.4), "fine")) as server:
        client = _client(server)
        t0 = time.monotonic()
        [resp] = _run(client, ChatRequest.of("q"))
        elapsed = time.monotonic() - t0
        assert server.http_requests == 2
    assert resp.text == "fine"
    assert elapsed >= 0.4  # backoff base is 1 ms: only Retry-After explains the wait
    assert client.usage.stage("default").retries == 1 and client.usage.stage("default").failed == 0


def test_500_then_success_is_retried() -> None:
    with LoopbackLLM(_script(error(500), error(502), "ok now")) as server:
        client = _client(server)
        [resp] = _run(client, ChatRequest.of("q"))
        assert server.http_requests == 3
    assert resp.text == "ok now" and client.usage.stage("default").retries == 2


def test_persistent_500_gives_an_error_response_counted_as_failed() -> None:
    with LoopbackLLM(lambda call: error(500)) as server:
        client = _client(server, max_retries=3)
        [resp] = _run(client, ChatRequest.of("q"))
        assert server.http_requests == 4  # first try + 3 retries
    assert resp.finish_reason == "error" and "500" in (resp.error or "")
    usage = client.usage.stage("default")
    assert (usage.calls, usage.failed, usage.retries) == (1, 1, 3)


def test_timeout_is_retried() -> None:
    with LoopbackLLM(_script(slow(1.5, "too late"), "in time")) as server:
        client = _client(server, http_timeout=0.3)
        [resp] = _run(client, ChatRequest.of("q"))
        assert server.http_requests == 2
    assert resp.text == "in time" and client.usage.stage("default").retries == 1


def test_malformed_and_truncated_bodies_are_retried_then_counted() -> None:
    with LoopbackLLM(_script(malformed(), truncated(), "good")) as server:
        client = _client(server)
        [resp] = _run(client, ChatRequest.of("q"))
        assert server.http_requests == 3
    assert resp.text == "good"
    with LoopbackLLM(lambda call: malformed()) as server:
        client = _client(server, max_retries=2)
        [resp] = _run(client, ChatRequest.of("q"))
    assert resp.finish_reason == "error" and "unparseable" in (resp.error or "")
    assert client.usage.stage("default").failed == 1


def test_auth_error_is_permanent_and_not_retried() -> None:
    with LoopbackLLM(lambda call: error(401)) as server:
        client = _client(server)
        [resp] = _run(client, ChatRequest.of("q"))
        assert server.http_requests == 1
    assert resp.finish_reason == "error" and "401" in (resp.error or "")
    assert client.usage.stage("default").retries == 0


def test_finish_reasons_refusal_empty_and_length() -> None:
    replies = {
        "refuse": ok(None, refusal="I can't help with that."),
        "filter": ok("partial", finish="content_filter"),
        "empty": ok(None),
        "long": ok("a b c", finish="length", output_tokens=3),
    }
    with LoopbackLLM(lambda call: replies[call.last_user]) as server:
        client = _client(server)
        out = _run(client, *(ChatRequest.of(k) for k in replies))
    by = dict(zip(replies, out, strict=True))
    assert (by["refuse"].finish_reason, by["refuse"].text) == ("refusal", "I can't help with that.")
    assert by["filter"].finish_reason == "refusal"
    assert (by["empty"].finish_reason, by["empty"].text) == ("stop", "")
    assert (by["long"].finish_reason, by["long"].output_tokens) == ("length", 3)


def test_rerun_is_served_from_cache_without_http_and_without_the_key(tmp_path: Path) -> None:
    requests = [ChatRequest.of(f"question {i}", stage="gen") for i in range(5)]
    with LoopbackLLM() as server:
        first = _run(_client(server, tmp_path), *requests)
        assert server.http_requests == 5
        client = _client(server, tmp_path)
        second = _run(client, *requests)
        assert server.http_requests == 5  # nothing new went over the wire
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and not any(r.cached for r in first)
    usage = client.usage.to_json()
    assert usage["stages"]["gen"]["cached"] == 5 and usage["stages"]["gen"]["calls"] == 5
    stored = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert "echo: question 0" in stored  # the answers are stored; the key must not be
    assert FAKE_KEY not in stored and FAKE_KEY not in json.dumps(usage)
    assert FAKE_KEY not in repr(client.backend)
