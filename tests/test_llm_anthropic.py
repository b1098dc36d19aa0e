"""AnthropicBackend (Messages + Message Batches) through the real ``anthropic`` SDK against loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from loopback_llm import BatchOutcome, Call, LoopbackLLM, error, ok

from valuesfirst.llm.anthropic_backend import AnthropicBackend
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.pricing import Pricing
from valuesfirst.llm.types import ChatRequest, SamplingParams

FAKE_KEY = "sk" + "-ant-test-" + "x" * 20


def _client(server: LoopbackLLM, cache: Path | None = None, **cfg: object) -> LLMClient:
    backend = AnthropicBackend(
        "claude-test", base_url=server.anthropic_base_url, api_key=FAKE_KEY, timeout_s=5
    )
    config = ClientConfig(
        backoff_base_s=0.001,
        backoff_max_s=1.0,
        cache_dir=cache,
        batch_poll_s=0.0,
        **cfg,  # type: ignore[arg-type]
    )
    return LLMClient(backend, config)


def _run(client: LLMClient, requests: list[ChatRequest], **kw: object) -> list:
    async def go() -> list:
        try:
            return await client.complete_many(requests, **kw)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_system_prompt_is_separate_and_params_are_sent() -> None:
    with LoopbackLLM() as server:
        params = SamplingParams(temperature=0.0, max_tokens=40, stop=("###",))
        [resp] = _run(_client(server), [ChatRequest.of("hello", system="you are terse", params=params)])
        call = server.requests[0]
    assert resp.text == "echo: hello" and resp.finish_reason == "stop"
    assert call.body["system"] == "you are terse"
    assert call.body["messages"] == [{"role": "user", "content": "hello"}]
    assert (call.body["max_tokens"], call.body["temperature"], call.body["stop_sequences"]) == (
        40,
        0.0,
        ["###"],
    )
    # the SDK sends the key (x-api-key or bearer, by SDK version): proof it reached the wire, and only there
    assert FAKE_KEY in call.headers.get("x-api-key", "") + call.headers.get("authorization", "")


def test_overloaded_529_and_429_are_retried_401_is_not() -> None:
    replies = [error(529), error(429, retry_after=0.05), "through"]
    with LoopbackLLM(lambda call: replies[min(call.index, 2)]) as server:
        client = _client(server)
        [resp] = _run(client, [ChatRequest.of("q")])
        assert server.http_requests == 3
    assert resp.text == "through" and client.usage.stage("default").retries == 2
    with LoopbackLLM(lambda call: error(401)) as server:
        client = _client(server)
        [resp] = _run(client, [ChatRequest.of("q")])
        assert server.http_requests == 1
    assert resp.finish_reason == "error" and client.usage.stage("default").failed == 1


def test_stop_reason_mapping() -> None:
    replies = {
        "len": ok("cut", finish="max_tokens"),
        "ref": ok("", finish="refusal"),
        "seq": ok("done", finish="stop_sequence"),
        "none": ok(None),
    }
    with LoopbackLLM(lambda call: replies[call.last_user]) as server:
        out = _run(_client(server), [ChatRequest.of(k) for k in replies])
    assert [r.finish_reason for r in out] == ["length", "refusal", "stop", "stop"]
    assert out[3].text == ""


def _batch_handler(fates: dict[str, list[object]]):
    """Batch items answer from ``fates[prompt]`` in turn (one entry per submission), else echo."""
    seen: dict[str, int] = {}

    def handler(call: Call) -> object:
        prompt = call.last_user
        if prompt in fates:
            n = seen.get(prompt, 0)
            seen[prompt] = n + 1
            return fates[prompt][min(n, len(fates[prompt]) - 1)]
        return ok("batch: " + prompt, input_tokens=1000, output_tokens=500)

    return handler


def test_batch_submit_poll_results_and_cache(tmp_path: Path) -> None:
    fates = {"flaky": [BatchOutcome("expired"), ok("second round")], "bad": [BatchOutcome("errored")]}
    fates["invalid"] = [error(400)]
    requests = [ChatRequest.of(p, stage="gen") for p in ("a", "b", "flaky", "a", "invalid")]
    with LoopbackLLM(_batch_handler(fates), batch_polls_in_progress=2) as server:
        client = _client(server, tmp_path, pricing=Pricing(3.0, 15.0))
        out = _run(client, requests, use_batch=True)
        assert len(server.batches) == 2  # the expired item went out again in a second batch
        first = server.batches["msgbatch_0000"]
        assert [cid for cid, _ in first] == [r.cache_key("claude-test") for r in requests[:3]] + [
            requests[4].cache_key("claude-test")
        ]  # custom_id is the cache key; the duplicate "a" is sent once
        assert [cid for cid, _ in server.batches["msgbatch_0001"]] == [requests[2].cache_key("claude-test")]
        assert len(server.calls("anthropic.batch_get")) >= 3 * 2  # polled until ended
        assert not (tmp_path / "batches").exists() or not list((tmp_path / "batches").iterdir())

        assert [r.text for r in out[:4]] == ["batch: a", "batch: b", "second round", "batch: a"]
        assert out[4].finish_reason == "error"  # a 400 item is permanent: not resubmitted
        stage = client.usage.to_json()["stages"]["gen"]
        assert (stage["calls"], stage["failed"], stage["shared"], stage["retries"]) == (5, 1, 1, 1)
        # a, b: 1000 in / 500 out each; "second round": 7 in / 2 out; batch tokens bill at half price.
        assert (stage["input_tokens"], stage["output_tokens"]) == (2007, 1002)
        assert stage["batch_input_tokens"] == 2007
        assert stage["cost_usd"] == pytest.approx(0.5 * (2007 * 3.0 + 1002 * 15.0) / 1e6)

        # Rerun: answered items come from the cache; only the failed one is asked again (as a batch).
        before = server.http_requests
        client2 = _client(server, tmp_path)
        again = _run(client2, requests, use_batch=True)
        assert [r.cached for r in again[:4]] == [True] * 4
        assert len(server.batches) == 3 and server.batches["msgbatch_0002"][0][0] == requests[4].cache_key(
            "claude-test"
        )
        assert server.http_requests > before
    stored = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert FAKE_KEY not in stored and FAKE_KEY not in json.dumps(client.usage.to_json())


def test_killed_run_resumes_the_persisted_batch_instead_of_resubmitting(tmp_path: Path) -> None:
    requests = [ChatRequest.of(f"item {i}") for i in range(4)]
    with LoopbackLLM(_batch_handler({}), batch_polls_in_progress=10**9) as server:

        async def killed_midway() -> None:
            client = _client(server, tmp_path)
            task = asyncio.create_task(client.complete_many(requests, use_batch=True))
            while not list((tmp_path / "batches").glob("*.json")):
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # a few polls while "in progress"
            task.cancel()  # the process dies while the provider is still working
            with pytest.raises(asyncio.CancelledError):
                await task
            await client.aclose()

        asyncio.run(killed_midway())
        assert len(server.batches) == 1
        ledger = json.loads(next((tmp_path / "batches").glob("*.json")).read_text())
        assert ledger["batch_id"] == "msgbatch_0000" and len(ledger["keys"]) == 4

        server.batch_polls_in_progress = 0  # the provider finishes while we are down
        client = _client(server, tmp_path)
        out = _run(client, requests, use_batch=True)
        assert len(server.batches) == 1  # resumed: no second batch was created (no double payment)
        assert [r.text for r in out] == [f"batch: item {i}" for i in range(4)]
        assert not list((tmp_path / "batches").glob("*.json"))  # ledger entry cleared once cached
        assert all(r.cached for r in _run(_client(server, tmp_path), requests, use_batch=True))


def test_unreachable_provider_on_resume_fails_the_run_but_keeps_the_batch(tmp_path: Path) -> None:
    requests = [ChatRequest.of("only")]
    with LoopbackLLM(_batch_handler({}), batch_polls_in_progress=0) as server:
        server.fail_next("anthropic.batch_results", error(500), times=3)  # first run: results never come
        [first] = _run(_client(server, tmp_path, max_retries=2), requests, use_batch=True)
        assert first.finish_reason == "error" and len(server.batches) == 1
        assert list((tmp_path / "batches").glob("*.json"))  # kept for the next run
        server.fail_next("anthropic.batch_get", error(503), times=3)  # second run: still unreachable
        [second] = _run(_client(server, tmp_path, max_retries=2), requests, use_batch=True)
        assert second.finish_reason == "error" and "rerun to resume" in (second.error or "")
        assert len(server.batches) == 1  # never resubmitted while the first batch may still bill
        [third] = _run(_client(server, tmp_path, max_retries=2), requests, use_batch=True)
        assert third.text == "batch: only" and len(server.batches) == 1


def test_batch_needs_a_batch_capable_backend() -> None:
    from valuesfirst.llm.scripted import ScriptedBackend

    client = LLMClient(ScriptedBackend(lambda r: "x"))
    with pytest.raises(ValueError, match="does not support provider batches"):
        asyncio.run(client.complete_many([ChatRequest.of("q")], use_batch=True))
