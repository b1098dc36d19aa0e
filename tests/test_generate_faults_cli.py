"""``valuesfirst generate`` facing bad servers and bad folders, through the real CLI and openai client:
why calls failed reaches stderr and the manifest (redacted), a base URL without a scheme and an output
folder that is a file or busy are exit 2 before any call, a short run is exit 3, and a hanging server
costs the deadline the flags set."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

from generate_helpers import fake_api_key, generate_args, loopback_handler
from loopback_llm import Call, LoopbackLLM, error, stall
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.jsonl import read_json

SMALL = ["--domains", "1", "--subdomains", "2", "--assertions", "2", "--doc-types", "1", "--ideas", "2"]
runner = CliRunner()


def _gen(out: Path, url: str, *extra: str, cmd: str = "midtrain") -> Any:
    args = generate_args(cmd, out, "openai:gen", base_url=url, key_env="VF_KEY")
    return runner.invoke(app, [*args, "--no-progress", *SMALL, *extra], env={"VF_KEY": fake_api_key()})


def test_a_401_names_its_reason_and_words_and_never_the_key(tmp_path: Path) -> None:
    def reject(call: Call) -> Any:
        return error(401, message=f"Incorrect API key provided: {call.headers['authorization']}")

    with LoopbackLLM(reject) as server:
        res = _gen(tmp_path, server.openai_base_url)
        assert len(server.calls("openai.chat")) == 1  # permanent: not retried
    assert res.exit_code == 1
    assert "call_error.http_401" in res.output and "Incorrect API key provided: Bearer ***" in res.output
    assert "check --api-key-env" in res.output
    manifest = read_json(tmp_path / "manifest.json")
    domains = manifest["levels"]["domains"]
    assert (
        domains["failed"] == {"call_error.http_401": 1}
        and "Incorrect API key" in domains["examples"]["call_error.http_401"]
    )
    written = (tmp_path / "manifest.json").read_text() + (tmp_path / "stopped.json").read_text()
    assert fake_api_key() not in written and fake_api_key() not in res.output


def test_a_refused_connection_names_the_transport_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("call_deadline_s: 0.5\n")  # a refused connection is retried until the deadline
    res = _gen(tmp_path / "o", f"http://127.0.0.1:{port}/v1", "--config", str(cfg))
    assert res.exit_code == 1
    assert "call_error.connection" in res.output and "ConnectionRefusedError" in res.output
    assert "check --base-url" in res.output


def test_a_base_url_without_scheme_is_exit_2_before_any_call(tmp_path: Path) -> None:
    with LoopbackLLM(loopback_handler) as server:
        res = _gen(tmp_path, f"127.0.0.1:{server.port}/v1")
        assert server.calls("openai.chat") == []
    assert res.exit_code == 2 and "--base-url" in res.output and "not an http(s) URL" in res.output


def test_out_under_an_existing_file_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    res = runner.invoke(app, generate_args("midtrain", tmp_path / "file" / "run"))
    assert res.exit_code == 2 and "is a file" in res.output and "--out" in res.output


def _hold(out: str, ready: Any) -> None:
    from valuesfirst.generate.lock import output_lock

    with output_lock(Path(out)):
        ready.set()
        time.sleep(600)


def test_a_second_writer_is_refused_and_a_killed_one_leaves_no_lock(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), ready))
    holder.start()
    try:
        assert ready.wait(30)
        with LoopbackLLM(loopback_handler) as server:
            res = _gen(tmp_path, server.openai_base_url)
            assert server.calls("openai.chat") == []
        assert res.exit_code == 2 and "another run is writing to this folder" in res.output
        assert f"pid {holder.pid}" in res.output
    finally:
        os.kill(holder.pid or 0, signal.SIGKILL)
        holder.join(30)
    with LoopbackLLM(loopback_handler) as server:  # the kernel released the killed holder's lock
        res = _gen(tmp_path, server.openai_base_url)
    assert res.exit_code == 0, res.output


def test_a_short_run_writes_its_outputs_and_exits_3(tmp_path: Path) -> None:
    def fewer(call: Call) -> str:
        text = loopback_handler(call)
        if "ideas for documents of this type" in call.last_user:
            items = json.loads(text.split("<output>")[1].split("</output>")[0])
            return f"<output>{json.dumps(items[:1])}</output>"
        return text

    with LoopbackLLM(fewer) as server:
        res = _gen(tmp_path, server.openai_base_url, "--failure-threshold", "0.6")
    assert res.exit_code == 3
    assert "level documents: kept 2 of 4" in res.output and "short_list: asked for 2 items" in res.output
    assert "level ideas: counted failures short_list=2" in res.output
    assert (tmp_path / "dataset.jsonl").exists() and read_json(tmp_path / "manifest.json")[
        "status"
    ] == "short"


def test_a_hanging_server_costs_the_deadline_then_the_run_stops_with_the_reason(tmp_path: Path) -> None:
    with LoopbackLLM(lambda call: stall()) as server:
        t0 = time.monotonic()
        res = _gen(tmp_path, server.openai_base_url, "--attempt-timeout", "0.3", "--call-deadline", "0.7")
        elapsed = time.monotonic() - t0
        attempts = len(server.calls("openai.chat"))
    assert res.exit_code == 1 and elapsed < 10
    # 0.3 s per attempt and up to 1 s of jittered backoff: the deadline ends the call after 1-3 attempts,
    # either during one or before a backoff that would pass it.
    assert 1 <= attempts <= 3
    assert re.search(
        r"call_error\.(deadline|attempt_timeout) x1: call deadline deadline_s=0\.7 passed", res.output
    )
    assert "raise --attempt-timeout/--call-deadline" in res.output
