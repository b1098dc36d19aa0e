"""LLMClient: concurrency bound, rate limits, timeouts, accounting, pricing, progress."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from loopback_llm import LoopbackLLM, ok

from valuesfirst.errors import InputError
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.openai_compat import OpenAICompatBackend
from valuesfirst.llm.pricing import BUILTIN_PRICES, Pricing, load_pricing, pricing_for
from valuesfirst.llm.ratelimit import TokenBucket
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse, SamplingParams

FAST = {"backoff_base_s": 0.001, "backoff_max_s": 0.01}


def test_concurrency_limit_bounds_requests_in_flight_at_the_server() -> None:
    with LoopbackLLM(lambda call: ok("x", delay_s=0.15)) as server:
        backend = OpenAICompatBackend("m", base_url=server.openai_base_url, api_key="unused", timeout_s=10)
        client = LLMClient(backend, ClientConfig(concurrency=3, **FAST))

        async def go() -> list[ChatResponse]:
            try:
                return await client.complete_many([ChatRequest.of(f"q{i}") for i in range(12)])
            finally:
                await client.aclose()

        out = asyncio.run(go())
        assert server.http_requests == 12
        assert server.max_in_flight == 3  # the bound is reached and never exceeded
    assert all(r.finish_reason == "stop" for r in out)


def _stamped_backend(stamps: list[float], text: str = "answer") -> ScriptedBackend:
    def responder(request: ChatRequest) -> str:
        stamps.append(time.monotonic())
        return text

    return ScriptedBackend(responder)


def test_requests_per_minute_spaces_calls() -> None:
    stamps: list[float] = []
    # 600/min = one call per 0.1 s; a 0.1 s burst holds a single call.
    client = LLMClient(_stamped_backend(stamps), ClientConfig(requests_per_minute=600, rate_burst_s=0.1))
    asyncio.run(client.complete_many([ChatRequest.of(f"q{i}") for i in range(6)]))
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert len(stamps) == 6
    assert stamps[-1] - stamps[0] >= 0.45  # 5 gaps of ~0.1 s
    assert min(gaps) >= 0.08


def test_tokens_per_minute_charges_prompt_and_completion() -> None:
    stamps: list[float] = []
    # Each call: a 100-word prompt (399 chars: 99 tokens estimated up front, 100 counted) and a 99-word
    # completion: 199 tokens. 12,000 tokens/min = 200/s with a 1 s burst (200 tokens).
    client = LLMClient(
        _stamped_backend(stamps, " ".join(["w"] * 99)),
        ClientConfig(tokens_per_minute=12_000, rate_burst_s=1.0),
    )
    prompt = " ".join(["abc"] * 100)
    asyncio.run(client.complete_many([ChatRequest.of(prompt, sample=i) for i in range(3)]))
    # The third call may start once 199 + 199 + 99 (its estimate) = 497 tokens fit: 497 - 200 burst = 297
    # tokens of refill = 1.485 s. Charging prompts only would let it start after (3*99 - 200)/200 = 0.49 s.
    assert stamps[2] - stamps[0] >= 1.4


def test_token_bucket_lets_an_oversized_amount_through_and_pays_it_back() -> None:
    async def go() -> float:
        bucket = TokenBucket(600, burst_s=0.1)  # 10/s, capacity 1
        t0 = time.monotonic()
        await bucket.acquire(3)  # bigger than the bucket: goes at once, leaves a debt of 2
        await bucket.acquire(1)  # waits for the debt plus one unit: ~0.3 s
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.28


class _SlowThenFast:
    name = "slow"
    model = "slow-model"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, request: ChatRequest) -> ChatResponse:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(5)
        return ChatResponse(text="quick", finish_reason="stop", model=self.model)

    async def aclose(self) -> None:
        return None


def test_per_request_timeout_is_transient_and_retried() -> None:
    backend = _SlowThenFast()
    client = LLMClient(backend, ClientConfig(timeout_s=0.1, **FAST))
    t0 = time.monotonic()
    resp = asyncio.run(client.complete(ChatRequest.of("q")))
    assert resp.text == "quick" and backend.calls == 2 and time.monotonic() - t0 < 2
    assert client.usage.stage("default").retries == 1


def test_usage_json_counts_and_costs_per_stage(tmp_path: Path) -> None:
    def responder(request: ChatRequest) -> ChatResponse | str | BaseException:
        if "fail" in request.messages[0].content:
            from valuesfirst.llm.types import PermanentBackendError

            return PermanentBackendError("bad request")
        return ChatResponse("ok", "stop", "priced", input_tokens=1_000, output_tokens=2_000)

    config = ClientConfig(cache_dir=tmp_path, pricing=Pricing(2.0, 10.0), **FAST)
    client = LLMClient(ScriptedBackend(responder, model="priced"), config)
    reqs = [
        ChatRequest.of("a", stage="docs"),
        ChatRequest.of("b", stage="docs"),
        ChatRequest.of("fail", stage="judge"),
    ]
    asyncio.run(client.complete_many(reqs))
    asyncio.run(client.complete_many(reqs[:1]))  # a cache hit: counted, not paid
    report = client.usage.to_json()
    docs, judge = report["stages"]["docs"], report["stages"]["judge"]
    assert (docs["calls"], docs["cached"], docs["failed"], docs["input_tokens"], docs["output_tokens"]) == (
        3, 1, 0, 2_000, 4_000,
    )  # fmt: skip
    assert docs["cost_usd"] == pytest.approx((2_000 * 2.0 + 4_000 * 10.0) / 1e6)  # $0.044
    assert (judge["calls"], judge["failed"], judge["cost_usd"]) == (1, 1, 0.0)
    assert report["total"]["calls"] == 4 and report["total"]["cost_usd"] == pytest.approx(0.044)
    assert report["pricing"]["source"] == "config" and report["model"] == "priced"


def test_unknown_model_reports_cost_as_null_not_zero() -> None:
    client = LLMClient(ScriptedBackend(lambda r: "x", model="my-finetune"))
    asyncio.run(client.complete(ChatRequest.of("q")))
    report = client.usage.to_json()
    assert report["pricing"] is None and report["total"]["cost_usd"] is None


def test_pricing_lookup_uses_the_longest_prefix_and_overrides() -> None:
    assert pricing_for("gpt-4o-mini-2024-07-18") == BUILTIN_PRICES["gpt-4o-mini"]
    assert pricing_for("openai:gpt-4o") == BUILTIN_PRICES["gpt-4o"]
    assert pricing_for("claude-sonnet-4-5-20250929") == BUILTIN_PRICES["claude-sonnet-4"]
    assert pricing_for("claude-opus-4-1-20250805") == Pricing(15, 75)  # the Opus 4 family price
    assert pricing_for("anthropic:claude-opus-4-6") == Pricing(5, 25)  # not the family prefix's 3x
    assert pricing_for("o3-mini") == BUILTIN_PRICES["o3-mini"]
    assert pricing_for("llama-3-8b") is None
    assert pricing_for("gpt-4o", {"gpt-4o": Pricing(1, 1)}) == Pricing(1, 1)
    client = LLMClient(ScriptedBackend(lambda r: "x", model="gpt-4o-mini"))
    assert client.usage.to_json()["pricing"]["source"].startswith("built-in")


def test_price_file_errors_name_the_line(tmp_path: Path) -> None:
    good = tmp_path / "prices.yaml"
    good.write_text("prices:\n  my-model:\n    input_per_mtok: 0.5\n    output_per_mtok: 1.5\n")
    assert load_pricing(good) == {"my-model": Pricing(0.5, 1.5)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("prices:\n  my-model:\n    input_per_mtok: 0.5\n    output_per_mtok: -1\n")
    with pytest.raises(InputError) as err:
        load_pricing(bad)
    assert "bad.yaml:4" in str(err.value) and "output_per_mtok" in str(err.value)


def test_progress_bar_run_gives_the_same_answers(capsys: pytest.CaptureFixture[str]) -> None:
    client = LLMClient(ScriptedBackend(lambda r: "ans " + r.messages[0].content))
    out = asyncio.run(client.complete_many([ChatRequest.of(str(i)) for i in range(20)], progress="gen docs"))
    assert [r.text for r in out] == [f"ans {i}" for i in range(20)]
    captured = capsys.readouterr()
    assert "gen docs" in captured.out + captured.err


def test_distinct_samples_are_not_collapsed_by_the_cache(tmp_path: Path) -> None:
    backend = ScriptedBackend(lambda r: f"sample {r.sample}")
    client = LLMClient(backend, ClientConfig(cache_dir=tmp_path))
    params = SamplingParams(temperature=1.0)
    out = asyncio.run(
        client.complete_many([ChatRequest.of("same", params=params, sample=i) for i in range(3)])
    )
    assert [r.text for r in out] == ["sample 0", "sample 1", "sample 2"] and len(backend.calls) == 3
