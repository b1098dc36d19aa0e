"""Several endpoints of one model (MultiEndpointBackend): routing, health, failover, parsing, cache, usage,
through the real ``openai`` client against loopback servers."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from generate_helpers import SPEC, generate_args, loopback_handler
from loopback_llm import Call, LoopbackLLM, error, ok
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.errors import InputError
from valuesfirst.jsonl import read_json
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.endpoints import MultiEndpointBackend
from valuesfirst.llm.factory import backend_from_uri, parse_base_urls
from valuesfirst.llm.openai_compat import OpenAICompatBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse

MODEL = "m-test"
FAST: dict[str, Any] = {"backoff_base_s": 0.001, "backoff_max_s": 0.01}


class FakeClock:
    """Monotonic seconds that only move when a test (or a loopback handler) says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def _backend(url: str) -> OpenAICompatBackend:
    return OpenAICompatBackend(MODEL, base_url=url, api_key="EMPTY", timeout_s=5.0, name="vllm")


def _multi(urls: Sequence[str], **kw: Any) -> MultiEndpointBackend:
    return MultiEndpointBackend([_backend(u) for u in urls], **kw)


def _run(backend: Any, requests: Sequence[ChatRequest], **cfg: Any) -> tuple[LLMClient, list[ChatResponse]]:
    client = LLMClient(backend, ClientConfig(**{**FAST, **cfg}))

    async def go() -> list[ChatResponse]:
        try:
            return await client.complete_many(list(requests))
        finally:
            await client.aclose()

    return client, asyncio.run(go())


def _questions(n: int) -> list[ChatRequest]:
    return [ChatRequest.of(f"question {i}", stage="gen") for i in range(n)]


def _as_json(responses: Sequence[ChatResponse]) -> str:
    return json.dumps([dataclasses.asdict(r) for r in responses], sort_keys=True)


def _stopped_url() -> str:
    """The URL of a loopback server that has been shut down: connection refused."""
    with LoopbackLLM() as server:
        url = server.openai_base_url
    return url


def _refused_url() -> str:
    """A port nothing listens on (bound, then closed: no 0.5 s server shutdown): connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _single_run(url: str, requests: Sequence[ChatRequest]) -> str:
    """The outputs of a run against one healthy endpoint, as JSON: what a many-endpoint run must equal."""
    _, out = _run(_backend(url), requests, concurrency=4)
    return _as_json(out)


# -- (a) load spreads --------------------------------------------------------------------------------


def test_load_spreads_over_endpoints_and_a_slow_one_gets_less() -> None:
    with (
        LoopbackLLM(lambda c: ok("echo: " + c.last_user, delay_s=0.02)) as a,
        LoopbackLLM(lambda c: ok("echo: " + c.last_user, delay_s=0.02)) as b,
    ):
        _, out = _run(_multi([a.openai_base_url, b.openai_base_url]), _questions(16), concurrency=4)
        assert a.http_requests + b.http_requests == 16
        assert a.http_requests >= 4 and b.http_requests >= 4  # least-loaded: both share the work
    assert all(r.finish_reason == "stop" for r in out)
    with LoopbackLLM(lambda c: ok("echo: " + c.last_user, delay_s=0.4)) as slow, LoopbackLLM() as fast:
        backend = _multi([slow.openai_base_url, fast.openai_base_url])
        _, out = _run(backend, _questions(20), concurrency=2)
        # The slow server holds one request for 0.4 s while the fast one answers the rest in turn.
        assert slow.http_requests >= 1 and fast.http_requests >= 15
        assert slow.http_requests + fast.http_requests == 20
    assert [s.requests for s in backend.stats] == [slow.http_requests, fast.http_requests]


# -- (b) an endpoint dies mid-run --------------------------------------------------------------------


def test_an_endpoint_dying_mid_run_loses_nothing_and_changes_no_result() -> None:
    requests = _questions(24)
    answered = itertools.count(1)  # next() is atomic: the server answers in several threads

    def dies_after_two(call: Call) -> Any:
        return "echo: " + call.last_user if next(answered) <= 2 else error(503)

    with LoopbackLLM() as a, LoopbackLLM(dies_after_two) as b:
        expected = _single_run(a.openai_base_url, requests)
        backend = _multi([a.openai_base_url, b.openai_base_url])
        client, out = _run(backend, requests, concurrency=4)
    assert _as_json(out) == expected  # byte-identical outputs
    usage = client.usage.stage("gen")
    assert (usage.calls, usage.failed, usage.retries) == (24, 0, 0)  # failover spent no retry
    dead = backend.stats[1]
    assert dead.failed >= 1 and dead.cooldowns >= 1 and dead.ok == 2


def test_a_refused_endpoint_loses_nothing_and_changes_no_result() -> None:
    requests = _questions(12)
    with LoopbackLLM() as a:
        expected = _single_run(a.openai_base_url, requests)
        backend = _multi([_stopped_url(), a.openai_base_url])
        client, out = _run(backend, requests, concurrency=4)
        assert a.http_requests == 24
    assert _as_json(out) == expected
    assert client.usage.stage("gen").failed == 0 and client.usage.stage("gen").retries == 0
    assert backend.stats[0].ok == 0 and backend.stats[0].cooldowns >= 1


def test_a_dead_endpoint_is_tried_again_after_a_doubling_cool_down() -> None:
    clock = FakeClock()
    state = {"dead": True}
    b_calls: list[tuple[float, bool]] = []

    def a_handler(call: Call) -> str:
        clock.advance(0.4)  # time moves 0.4 s per answer of A: the cool-downs pass deterministically
        return "echo: " + call.last_user

    def b_handler(call: Call) -> Any:
        b_calls.append((clock.now, state["dead"]))
        if state["dead"] and len(b_calls) >= 3:
            state["dead"] = False  # the server comes back after its third failed try
            return error(503)
        return error(503) if state["dead"] else "echo: " + call.last_user

    requests = _questions(40)
    with LoopbackLLM(a_handler) as a, LoopbackLLM(b_handler) as b:
        expected = _single_run(a.openai_base_url, requests)
        clock.now = 0.0
        backend = _multi([a.openai_base_url, b.openai_base_url], clock=clock)
        client, out = _run(backend, requests, concurrency=1)
    assert _as_json(out) == expected and client.usage.stage("gen").retries == 0
    failed_at = [t for t, dead in b_calls if dead]
    assert len(failed_at) == 3
    # Taken out for 1 s, then 2 s: never tried before its cool-down ended.
    assert failed_at[1] - failed_at[0] >= 1.0 and failed_at[2] - failed_at[1] >= 2.0
    stats = backend.stats[1]
    assert (stats.failed, stats.cooldowns) == (3, 3)
    assert stats.ok >= 3  # back for good after one success: it shares the rest of the run again
    assert b_calls[3][0] - failed_at[2] >= 4.0  # the third cool-down (4 s) was kept too


# -- (c) every endpoint down -------------------------------------------------------------------------


def test_all_endpoints_down_fail_and_are_counted_never_kept(tmp_path: Path) -> None:
    with LoopbackLLM(lambda c: error(503)) as a, LoopbackLLM(lambda c: error(503)) as b:
        backend = _multi([a.openai_base_url, b.openai_base_url])
        client, out = _run(backend, _questions(3), concurrency=3, max_retries=2, cache_dir=tmp_path)
        sent = a.http_requests + b.http_requests
    assert all(r.finish_reason == "error" and r.text == "" for r in out)
    assert {r.error_kind for r in out} == {"http_503"}
    assert all("endpoint" in (r.error or "") for r in out)
    usage = client.usage.stage("gen")
    assert (usage.calls, usage.failed, usage.retries) == (3, 3, 6)  # as one failing server: 3 tries each
    assert 9 <= sent <= 18  # every attempt reached a server; none tried an endpoint twice
    assert not list(tmp_path.rglob("*.json"))  # nothing cached: a rerun asks again
    _, out = _run(_multi([_refused_url(), _refused_url()]), _questions(2), max_retries=1)
    assert [r.error_kind for r in out] == ["connection", "connection"]


# -- (d) a bad request is not the endpoint's fault ---------------------------------------------------


def test_a_400_does_not_take_the_endpoint_out() -> None:
    def handler(call: Call) -> Any:
        return error(400) if call.last_user == "bad" else "echo: " + call.last_user

    requests = [ChatRequest.of(q) for q in ("q0", "bad", "q1", "q2", "q3", "q4")]
    with LoopbackLLM(handler) as a, LoopbackLLM(handler) as b:
        backend = _multi([a.openai_base_url, b.openai_base_url])
        client, out = _run(backend, requests, concurrency=1)
        got_bad = a if any(c.last_user == "bad" for c in a.requests) else b
        after_bad = [c.last_user for c in got_bad.requests]
        bad_sent = sum(c.last_user == "bad" for c in a.requests + b.requests)
    assert (out[1].finish_reason, out[1].error_kind) == ("error", "http_400")
    assert bad_sent == 1  # not retried, not failed over
    assert after_bad.index("bad") < len(after_bad) - 1  # the endpoint kept getting requests
    assert [s.cooldowns for s in backend.stats] == [0, 0] and sum(s.errors for s in backend.stats) == 1
    assert all(r.finish_reason == "stop" for i, r in enumerate(out) if i != 1)
    assert client.usage.total().failed == 1


# -- (e) one URL, a comma list, @FILE ----------------------------------------------------------------


def test_comma_lists_and_files_parse(tmp_path: Path) -> None:
    assert parse_base_urls("http://a:8000/v1") == ["http://a:8000/v1"]
    assert parse_base_urls(" http://a:8000/v1 , https://b/v1") == ["http://a:8000/v1", "https://b/v1"]
    listing = tmp_path / "endpoints.txt"
    listing.write_text("# our vLLM servers\n\nhttp://gpu1:8000/v1\n  http://gpu2:8000/v1  # rack 2\n")
    assert parse_base_urls(f"@{listing}") == ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
    single = backend_from_uri("vllm:m", base_url="http://a:8000/v1")
    assert isinstance(single, OpenAICompatBackend) and single.base_url == "http://a:8000/v1"  # unchanged
    multi = backend_from_uri("vllm:m", base_url=f"@{listing}")
    assert isinstance(multi, MultiEndpointBackend)
    assert (multi.name, multi.model, multi.base_urls) == (
        "vllm",
        "m",
        ("http://gpu1:8000/v1", "http://gpu2:8000/v1"),
    )
    one_line = tmp_path / "one.txt"
    one_line.write_text("http://solo:8000/v1\n")
    assert isinstance(backend_from_uri("sglang:m", base_url=f"@{one_line}"), OpenAICompatBackend)


def test_bad_entries_name_the_file_and_line_or_the_item(tmp_path: Path) -> None:
    listing = tmp_path / "endpoints.txt"
    listing.write_text(
        "http://gpu1:8000/v1\n# comment\n127.0.0.1:8001/v1\nhttp://gpu1:8000/v1\nhttp://a/v1,http://b/v1\n"
    )
    with pytest.raises(InputError) as err:
        backend_from_uri("vllm:m", base_url=f"@{listing}")
    text = str(err.value)
    assert f"{listing}:3" in text and "'127.0.0.1:8001/v1' is not an http(s) URL" in text
    assert f"{listing}:4" in text and "listed twice" in text and "line 1" in text
    assert f"{listing}:5" in text and "one URL per line" in text
    with pytest.raises(InputError, match=r"--base-url item 2.*not an http\(s\) URL"):
        parse_base_urls("http://a/v1,localhost:8000")
    with pytest.raises(InputError, match="empty entry"):
        parse_base_urls("http://a/v1,")
    with pytest.raises(InputError) as err:
        parse_base_urls("http://a/v1,user:hunter2pass@gpu:8000/v1")
    assert "hunter2pass" not in str(err.value) and "***@gpu" in str(err.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    with pytest.raises(InputError, match="lists no URL"):
        parse_base_urls(f"@{empty}")
    with pytest.raises(InputError, match=r"missing\.txt.*cannot read"):
        parse_base_urls(f"@{tmp_path / 'missing.txt'}")
    with pytest.raises(InputError, match="must be followed by a file"):
        parse_base_urls("@")


# -- (f) the cache does not depend on the endpoints ---------------------------------------------------


def test_a_rerun_against_other_endpoints_answers_from_cache(tmp_path: Path) -> None:
    requests = _questions(8)
    with LoopbackLLM() as a, LoopbackLLM() as b:
        _, first = _run(_multi([a.openai_base_url, b.openai_base_url]), requests, cache_dir=tmp_path)
    with LoopbackLLM() as c, LoopbackLLM() as d:
        client, second = _run(_multi([c.openai_base_url, d.openai_base_url]), requests, cache_dir=tmp_path)
        assert c.http_requests + d.http_requests == 0
        _, third = _run(_backend(c.openai_base_url), requests, cache_dir=tmp_path)  # one endpoint: same keys
        assert c.http_requests == 0
    assert [r.text for r in second] == [r.text for r in first] == [r.text for r in third]
    assert all(r.cached for r in second) and client.usage.stage("gen").cached == 8


# -- usage summary and the CLI -----------------------------------------------------------------------


def test_usage_summary_reports_each_endpoint_redacted() -> None:
    with LoopbackLLM() as a, LoopbackLLM() as b:
        secret_url = f"http://ops:s3cretpassw0rd@127.0.0.1:{b.port}/v1"
        backend = _multi([a.openai_base_url, secret_url])
        client, _ = _run(backend, _questions(6), concurrency=2)
    usage = client.usage.to_json()
    dumped = json.dumps(usage) + repr(backend)
    assert "s3cretpassw0rd" not in dumped
    rows = usage["endpoints"]
    assert [r["url"] for r in rows] == [a.openai_base_url, f"http://***@127.0.0.1:{b.port}/v1"]
    assert sum(r["requests"] for r in rows) == sum(r["ok"] for r in rows) == 6
    assert usage["total"]["calls"] == 6
    with LoopbackLLM() as a:
        single, _ = _run(_backend(a.openai_base_url), _questions(1))
    assert "endpoints" not in single.usage.to_json()  # one endpoint: the summary as before


def test_generate_cli_spreads_over_a_comma_list_and_records_the_endpoints(tmp_path: Path) -> None:
    small = ["--domains", "1", "--subdomains", "2", "--assertions", "2", "--doc-types", "1", "--ideas", "2"]
    out = tmp_path / "o"
    with LoopbackLLM(loopback_handler) as a, LoopbackLLM(loopback_handler) as b:
        urls = f"{a.openai_base_url},{b.openai_base_url}"
        args = generate_args("midtrain", out, "vllm:gen", base_url=urls, spec=SPEC)
        res = CliRunner().invoke(app, [*args, "--no-progress", *small])
        counts = [a.http_requests, b.http_requests]
    assert res.exit_code == 0, res.output
    assert sum(counts) == 12 and min(counts) >= 1
    rows = read_json(out / "manifest.json")["usage"]["endpoints"]
    assert [r["url"] for r in rows] == urls.split(",") and [r["requests"] for r in rows] == counts
    bad = CliRunner().invoke(
        app, generate_args("midtrain", tmp_path / "p", "vllm:gen", base_url="http://a/v1,b:1")
    )
    assert bad.exit_code == 2 and "--base-url item 2" in bad.output
    missing = f"@{tmp_path / 'none'}"
    eval_args = ["eval", "values", "--model", "vllm:m", "--base-url", missing, "--out", str(tmp_path / "e")]
    res = CliRunner().invoke(app, eval_args)
    assert res.exit_code == 2 and "cannot read the endpoints file" in res.output
