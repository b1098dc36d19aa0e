"""Soak (slow): ``valuesfirst generate midtrain`` with a few thousand small calls against the loopback server,
mixed faults and SIGKILLs at random points, rerun until it finishes; the dataset must be byte-identical to
a fault-free run. Figures (calls, faults, retries, kills, time) go to ``$VF_SOAK_REPORT`` when set (see
benchmarks/generate_soak.md).

Faults are chosen per prompt from its hash and hit only its first attempt(s), as a flaky provider does:
transient ones (429, 500, a body that is not JSON, a body cut off mid-stream, headers then silence, a
trickle slower than the attempt timeout) are retried within the run; bad outputs (empty, tagless, cut off
at max_tokens, refused) fail the call, are counted, are not cached, and the next run asks again.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from generate_helpers import fake_api_key, generate_args, loopback_handler
from loopback_llm import Call, LoopbackLLM, Reply, error, malformed, ok, stall, trickle, truncated

COUNTS = ["--domains", "5", "--subdomains", "5", "--assertions", "2", "--doc-types", "4", "--ideas", "30"]
N_CALLS = 1 + 5 + 25 + 25 + 100 + 3000
KILLS = 8
FAULT_SHARE = 0.12  # of prompts; about a quarter of those get a bad output rather than a transient fault
TRANSIENT = ("http_429", "http_500", "malformed", "truncated", "stall", "trickle")
BAD_OUTPUT = ("empty", "tagless", "cut_off", "refusal")


def _cli(out: Path, url: str) -> list[str]:
    args = generate_args("midtrain", out, "openai:gen", base_url=url, key_env="VF_SOAK_KEY")
    limits = ["--attempt-timeout", "0.5", "--call-deadline", "20", "--failure-threshold", "0.3"]
    return [
        sys.executable,
        "-m",
        "valuesfirst.cli",
        *args,
        *COUNTS,
        *limits,
        "--concurrency",
        "16",
        "--no-progress",
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "VF_SOAK_KEY": fake_api_key(), "HF_HUB_OFFLINE": "1", "PYTHONPATH": _src()}


def _src() -> str:
    return str(Path(__file__).parents[1] / "src")


def _fault_for(prompt: str) -> tuple[str, int] | None:
    """(fault, how many first attempts it hits) for this prompt, or None for a healthy one."""
    h = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    if (h % 10_000) / 10_000 >= FAULT_SHARE:
        return None
    kinds = TRANSIENT * 2 + BAD_OUTPUT  # 12 transient : 4 bad-output slots
    return kinds[(h // 10_000) % len(kinds)], 1 + (h // 1_000_000) % 2


class FaultyServer:
    """The fake generator behind faults; counts requests per prompt across every run of the soak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.kill_at: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_requests = 0
        self.broken: list[dict[str, Any]] = []

    def __call__(self, call: Call) -> Reply | str:
        prompt = json.dumps(call.body.get("messages"), sort_keys=True)
        with self.lock:
            self.run_requests += 1
            if self.kill_at is not None and self.run_requests == self.kill_at and self.proc is not None:
                self.proc.send_signal(signal.SIGKILL)
            self.attempts[prompt] += 1
            attempt = self.attempts[prompt]
        fault = _fault_for(prompt)
        try:
            text = loopback_handler(call)
        except Exception:
            with self.lock:
                self.broken.append(call.body)  # a request the fake cannot answer: the test fails on it
            raise
        if fault is None or attempt > fault[1]:
            return text
        kind = fault[0]
        with self.lock:
            self.injected[kind] += 1
        replies: dict[str, Any] = {
            "http_429": lambda: error(429, retry_after=0),
            "http_500": lambda: error(500),
            "malformed": malformed,
            "truncated": truncated,
            "stall": lambda: stall(3.0),
            "trickle": lambda: trickle(0.05, text),  # ~1 KB at 20 bytes/s: far past the 0.5 s timeout
            "empty": lambda: ok(""),
            "tagless": lambda: ok("Here you go, with no tags at all."),
            "cut_off": lambda: ok(text[: len(text) // 2], finish="length"),
            "refusal": lambda: ok(None, refusal="I can't help with that.", finish="content_filter"),
        }
        return replies[kind]()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_soak_faults_and_kills_end_identical_to_a_fault_free_run(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with LoopbackLLM(loopback_handler) as server:
        ref = tmp_path / "ref"
        subprocess.run(_cli(ref, server.openai_base_url), env=_env(), check=True, capture_output=True)
        assert len(server.calls("openai.chat")) == N_CALLS
    reference = (ref / "dataset.jsonl").read_bytes()
    t_ref = time.monotonic() - t0

    rng = random.Random(15)
    faulty = FaultyServer()
    out = tmp_path / "soak"
    runs: list[dict[str, Any]] = []
    retries = 0  # counted by the runs that lived to write a manifest
    t1 = time.monotonic()
    with LoopbackLLM(faulty) as server:
        for n in range(KILLS + 10):
            faulty.run_requests = 0
            # A random point in the first half of what this run still has to ask, so the kill fires.
            remaining = N_CALLS - len(list((out / "cache").glob("*/*.json")))
            faulty.kill_at = rng.randint(1, max(2, remaining // 2)) if n < KILLS else None
            started = time.monotonic()
            faulty.proc = subprocess.Popen(
                _cli(out, server.openai_base_url),
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _, err = faulty.proc.communicate(timeout=900)
            code = faulty.proc.returncode
            runs.append(
                {"exit": code, "requests": faulty.run_requests, "kill_at": faulty.kill_at,
                 "seconds": round(time.monotonic() - started, 1)}
            )  # fmt: skip
            assert code in (0, 1, 3, -signal.SIGKILL), err.decode()[-2000:]
            if code != -signal.SIGKILL:
                retries += json.loads((out / "manifest.json").read_text())["usage"]["total"]["retries"]
            if n >= KILLS and code == 0:
                break
        total_requests = len(server.calls("openai.chat"))
    soak_s = time.monotonic() - t1
    assert not faulty.broken, json.dumps(faulty.broken[:1])[:2000]
    assert runs[-1]["exit"] == 0, runs
    assert (out / "dataset.jsonl").read_bytes() == reference
    kills = sum(r["exit"] == -signal.SIGKILL for r in runs)
    assert kills == KILLS
    report = {
        "calls_fault_free": N_CALLS,
        "http_requests": total_requests,
        "faults_injected": dict(sorted(faulty.injected.items())),
        "faults_total": sum(faulty.injected.values()),
        "extra_requests": total_requests - N_CALLS,
        "retries_in_finished_runs": retries,
        "kills": kills,
        "runs": runs,
        "fault_free_run_s": round(t_ref, 1),
        "soak_s": round(soak_s, 1),
    }
    if path := os.environ.get("VF_SOAK_REPORT"):
        Path(path).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
