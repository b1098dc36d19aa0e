"""Calls never hang and fail with their reason: per-attempt timeouts and per-call deadlines against a
trickling, stalled or silent loopback server through the real openai SDK; failure kinds and messages;
base URLs without a scheme; secrets a provider echoes back."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from loopback_llm import LoopbackLLM, Reply, error, ok, slow, stall, trickle

from valuesfirst.errors import InputError
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.factory import backend_from_uri
from valuesfirst.llm.openai_compat import OpenAICompatBackend
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse

FAST = {"backoff_base_s": 0.01, "backoff_max_s": 0.02}
KEY = "sk" + "-test-" + "z" * 24  # built at run time: a literal would trip the secret scan


def _ask(base_url: str, **cfg: Any) -> tuple[ChatResponse, float, LLMClient]:
    backend = OpenAICompatBackend("m", base_url=base_url, api_key="unused", timeout_s=60)
    client = LLMClient(backend, ClientConfig(**{**FAST, **cfg}))

    async def go() -> ChatResponse:
        try:
            return await client.complete(ChatRequest.of("q"))
        finally:
            await client.aclose()

    t0 = time.monotonic()
    resp = asyncio.run(go())
    return resp, time.monotonic() - t0, client


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(lambda: trickle(0.2, "x" * 50), id="one-byte-every-0.2s"),
        pytest.param(lambda: stall(), id="headers-then-silence"),
        pytest.param(lambda: slow(30.0), id="never-answers"),
    ],
)
def test_a_hanging_server_costs_at_most_the_deadline(reply: Any) -> None:
    with LoopbackLLM(lambda call: reply()) as server:
        resp, elapsed, client = _ask(server.openai_base_url, timeout_s=0.4, deadline_s=1.0, max_retries=50)
        attempts = len(server.calls("openai.chat"))
    assert resp.finish_reason == "error" and elapsed < 2.0
    # Two full attempts (0.8 s), then a third cut short by the deadline.
    assert attempts == 3
    assert resp.error_kind == "deadline" and "deadline_s=1" in (resp.error or "")
    usage = client.usage.stage("default")
    assert (usage.failed, usage.retries) == (1, 2)


def test_attempt_timeout_is_retried_and_its_reason_kept() -> None:
    with LoopbackLLM(lambda call: stall()) as server:
        resp, elapsed, _ = _ask(server.openai_base_url, timeout_s=0.2, deadline_s=None, max_retries=2)
        assert len(server.calls("openai.chat")) == 3
    assert resp.error_kind == "attempt_timeout" and elapsed < 2.0
    assert resp.error == "gave up after 3 attempts: no complete answer within timeout_s=0.2"


def test_a_trickle_that_finishes_within_the_timeout_is_an_answer() -> None:
    with LoopbackLLM(lambda call: trickle(0.0005, "fine")) as server:
        resp, _, _ = _ask(server.openai_base_url, timeout_s=5, deadline_s=10)
    assert (resp.finish_reason, resp.text) == ("stop", "fine")


def test_backoff_that_would_pass_the_deadline_ends_the_call_with_the_last_error() -> None:
    with LoopbackLLM(lambda call: error(503, retry_after=5, message="overloaded, come back later")) as server:
        resp, elapsed, _ = _ask(
            server.openai_base_url, timeout_s=1, deadline_s=2, max_retries=6, backoff_max_s=10
        )
        assert len(server.calls("openai.chat")) == 1  # a 5 s Retry-After does not fit a 2 s deadline
    assert elapsed < 1.0 and resp.error_kind == "http_503"
    assert "deadline_s=2" in (resp.error or "") and "overloaded, come back later" in (resp.error or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_connection_names_the_transport_error() -> None:
    resp, _, _ = _ask(f"http://127.0.0.1:{_free_port()}/v1", max_retries=1)
    assert resp.error_kind == "connection"
    assert "ConnectError" in (resp.error or "") and "refused" in (resp.error or "").lower()


def test_401_is_permanent_and_its_words_are_kept() -> None:
    with LoopbackLLM(lambda call: error(401, message="Incorrect API key provided")) as server:
        resp, _, client = _ask(server.openai_base_url)
        assert len(server.calls("openai.chat")) == 1
    assert resp.error_kind == "http_401" and "Incorrect API key provided" in (resp.error or "")
    assert client.usage.stage("default").retries == 0


def test_an_echoed_authorization_header_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VF_DEADLINE_KEY", KEY)

    def echo(call: Any) -> Reply:
        return error(400, message=f"bad request; you sent Authorization: {call.headers['authorization']}")

    with LoopbackLLM(echo) as server:
        backend = backend_from_uri("openai:m", base_url=server.openai_base_url, api_key_env="VF_DEADLINE_KEY")
        client = LLMClient(backend, ClientConfig(**FAST))
        resp = asyncio.run(client.complete(ChatRequest.of("q")))
    assert KEY not in (resp.error or "") and "Authorization: Bearer ***" in (resp.error or "")
    # The key is registered: redacted even where no "Bearer" precedes it.
    from valuesfirst.provenance import redact_text

    assert redact_text(f"key={KEY[3:]}!{KEY}") == f"key={KEY[3:]}!***"


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "localhost:8000/v1", "ftp://h/v1", "http:///v1"])
def test_base_url_without_scheme_or_host_is_an_input_error(url: str) -> None:
    with pytest.raises(InputError, match=r"--base-url.*not an http\(s\) URL"):
        backend_from_uri("vllm:m", base_url=url)


def test_base_url_errors_do_not_show_credentials() -> None:
    with pytest.raises(InputError) as err:
        backend_from_uri("vllm:m", base_url="user:hunter2-password@host:8000/v1")
    assert "hunter2" not in str(err.value)


class _LocalSlow(ScriptedBackend):
    name = "local"


def test_in_process_backends_get_no_deadline() -> None:
    client = LLMClient(
        _LocalSlow(lambda r: "done", latency=0.3), ClientConfig(timeout_s=0.05, deadline_s=0.1)
    )
    assert asyncio.run(client.complete(ChatRequest.of("q"))).text == "done"


def test_on_result_that_raises_cancels_the_rest_and_caches_none_of_it(tmp_path: Any) -> None:
    with LoopbackLLM(lambda call: ok("x", delay_s=0.05 if call.last_user == "bad" else 2.0)) as server:
        backend = OpenAICompatBackend("m", base_url=server.openai_base_url, api_key="unused")
        client = LLMClient(backend, ClientConfig(cache_dir=tmp_path, concurrency=8, **FAST))

        class Stop(Exception):
            pass

        def on_result(i: int, resp: ChatResponse) -> None:
            raise Stop

        async def go() -> None:
            try:
                await client.complete_many(
                    [ChatRequest.of("bad"), *(ChatRequest.of(f"q{i}") for i in range(6))], on_result=on_result
                )
            finally:
                await client.aclose()

        t0 = time.monotonic()
        with pytest.raises(Stop):
            asyncio.run(go())
        assert time.monotonic() - t0 < 1.5  # the slow ones were not waited for
    assert len(list(tmp_path.glob("*/*.json"))) == 1  # only the answer that arrived


def test_batch_log_lines_are_redacted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    monkeypatch.setenv("VF_BATCH_KEY", KEY)
    with LoopbackLLM(lambda call: "fine") as server:
        server.fail_next("anthropic.batch_create", error(500, message=f"proxy saw x-api-key {KEY}"), times=2)
        backend = backend_from_uri(
            "anthropic:claude-test", base_url=server.anthropic_base_url, api_key_env="VF_BATCH_KEY"
        )
        client = LLMClient(backend, ClientConfig(cache_dir=tmp_path, batch_poll_s=0, **FAST))

        async def go() -> list[ChatResponse]:
            try:
                return await client.complete_many([ChatRequest.of("q")], use_batch=True)
            finally:
                await client.aclose()

        with caplog.at_level("WARNING", logger="valuesfirst.llm.batch"):
            out = asyncio.run(go())
    assert out[0].text == "fine"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "proxy saw x-api-key ***" in logged and KEY not in logged
