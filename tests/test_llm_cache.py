"""The completion cache as reruns see it: only usable answers are final, damaged entries are re-asked,
identical requests in flight are sent once, and two writers of one key agree on one answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from loopback_llm import LoopbackLLM, ok

from valuesfirst.llm.cache import DiskCache
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.openai_compat import OpenAICompatBackend
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse


def _counting(prefix: str = "answer") -> tuple[ScriptedBackend, list[int]]:
    """A backend whose every answer differs (like a sampling model): ``prefix n`` for the n-th call."""
    n = [0]

    def responder(request: ChatRequest) -> str:
        n[0] += 1
        return f"{prefix} {n[0]}"

    return ScriptedBackend(responder, model="m"), n


@pytest.mark.parametrize(
    "entry", ["null", "[]", '"text"', "{}", '{"text": 1, "finish_reason": "stop", "model": "m"}', "{cut"]
)
def test_an_entry_that_is_not_a_completion_is_asked_again(tmp_path: Path, entry: str) -> None:
    request = ChatRequest.of("q")
    key = request.cache_key("m")
    (tmp_path / key[:2]).mkdir()
    (tmp_path / key[:2] / f"{key}.json").write_text(entry)
    backend, _ = _counting()
    client = LLMClient(backend, ClientConfig(cache_dir=tmp_path))
    assert asyncio.run(client.complete(request)).text == "answer 1"
    assert DiskCache(tmp_path).get(key) is not None  # replaced by the fresh answer
    assert asyncio.run(client.complete(request)).cached


def test_an_error_entry_is_never_served(tmp_path: Path) -> None:
    request = ChatRequest.of("q")
    DiskCache(tmp_path).put(request.cache_key("m"), ChatResponse("", "error", "m", error="boom"))
    assert DiskCache(tmp_path).get(request.cache_key("m")) is None


def test_unusable_answers_are_not_cached_and_are_asked_again(tmp_path: Path) -> None:
    backend, n = _counting()
    client = LLMClient(backend, ClientConfig(cache_dir=tmp_path))
    request = ChatRequest.of("q")

    def usable(resp: ChatResponse) -> bool:
        return resp.text == "answer 2"  # the caller can use only the second answer

    first = asyncio.run(client.complete(request, usable=usable))
    assert first.text == "answer 1" and not list(tmp_path.glob("*/*.json"))
    second = asyncio.run(client.complete(request, usable=usable))
    assert second.text == "answer 2" and not second.cached
    third = asyncio.run(client.complete(request, usable=usable))
    assert third.text == "answer 2" and third.cached and n[0] == 2


def test_a_cached_answer_the_caller_rejects_is_asked_again(tmp_path: Path) -> None:
    """A cache written under the old rule (length and refusals were final) heals on the next run."""
    request = ChatRequest.of("q")
    DiskCache(tmp_path).put(request.cache_key("m"), ChatResponse("cut", "length", "m"))
    backend, n = _counting()
    client = LLMClient(backend, ClientConfig(cache_dir=tmp_path))
    resp = asyncio.run(client.complete(request, usable=lambda r: r.finish_reason == "stop"))
    assert resp.text == "answer 1" and n[0] == 1
    assert DiskCache(tmp_path).get(request.cache_key("m")).text == "answer 1"  # type: ignore[union-attr]


def test_default_rule_keeps_every_completed_answer(tmp_path: Path) -> None:
    """Evals keep a length-cut or refused answer as a result: by default it is final."""
    backend = ScriptedBackend(lambda r: ChatResponse("part", "length", "m"), model="m")
    client = LLMClient(backend, ClientConfig(cache_dir=tmp_path))
    asyncio.run(client.complete(ChatRequest.of("q")))
    assert asyncio.run(client.complete(ChatRequest.of("q"))).cached and len(backend.calls) == 1


def test_identical_requests_in_flight_are_sent_once(tmp_path: Path) -> None:
    """100 judge-like calls over 32 distinct prompts against a server whose answers vary per request:
    32 requests, one answer per prompt, and a second pass from the cache gives the same answers."""
    counter = [0]

    def handler(call: Any) -> Any:
        counter[0] += 1
        return ok(f"{call.last_user} verdict {counter[0]}", delay_s=0.05)

    prompts = [f"p{i % 32}" for i in range(100)]
    with LoopbackLLM(handler) as server:
        backend = OpenAICompatBackend("m", base_url=server.openai_base_url, api_key="unused")
        client = LLMClient(backend, ClientConfig(cache_dir=tmp_path, concurrency=8))

        async def go() -> tuple[list[ChatResponse], list[ChatResponse]]:
            try:
                first = await client.complete_many([ChatRequest.of(p) for p in prompts])
                again = await client.complete_many([ChatRequest.of(p) for p in prompts])
                return first, again
            finally:
                await client.aclose()

        first, again = asyncio.run(go())
        assert len(server.calls("openai.chat")) == 32
    by_prompt: dict[str, set[str]] = {}
    for p, r in zip(prompts, first, strict=True):
        by_prompt.setdefault(p, set()).add(r.text)
    assert all(len(texts) == 1 for texts in by_prompt.values())
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)
    usage = client.usage.stage("default")
    assert (usage.calls, usage.shared, usage.cached) == (200, 68, 100)


def test_a_cancelled_asker_hands_the_request_to_a_waiting_one() -> None:
    backend = ScriptedBackend(lambda r: "done", model="m", latency=0.2)
    client = LLMClient(backend)

    async def go() -> ChatResponse:
        first = asyncio.ensure_future(client.complete(ChatRequest.of("q")))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(client.complete(ChatRequest.of("q")))
        await asyncio.sleep(0.05)
        first.cancel()
        return await second

    assert asyncio.run(go()).text == "done" and len(backend.calls) == 2


def test_two_writers_of_one_key_agree_on_the_first_answer(tmp_path: Path) -> None:
    """Two processes sharing a cache (two DiskCache objects) asked the same request at once: the one
    that finishes second uses, and returns, the answer the first stored."""
    key = ChatRequest.of("q").cache_key("m")
    a, b = DiskCache(tmp_path), DiskCache(tmp_path)
    kept_a = a.put_first(key, ChatResponse("first", "stop", "m"), lambda r: True)
    kept_b = b.put_first(key, ChatResponse("second", "stop", "m"), lambda r: True)
    assert kept_a.text == kept_b.text == "first"
    assert json.loads(next(tmp_path.glob("*/*.json")).read_text())["text"] == "first"
    # An entry the writer cannot use is replaced.
    kept = b.put_first(key, ChatResponse("third", "stop", "m"), lambda r: r.text == "third")
    assert kept.text == "third" and a.get(key).text == "third"  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*/.tmp-*"))  # no temp file left behind
