"""``valuesfirst eval`` against hostile loopback servers: a judge whose answers vary per request scores
the same on ``--rescore`` from the same cache, a hanging model costs the deadline the flags set, and
credentials (an echoed Authorization header, URL userinfo) reach neither the banner, transcripts.jsonl
nor summary.json."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path

from loopback_llm import Call, LoopbackLLM, error, stall
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.jsonl import read_jsonl

ENV = {"COLUMNS": "200", "HF_HUB_OFFLINE": "1"}
KEY = "sk" + "-evaltest-" + "q" * 22  # built at run time: a literal would trip the secret scan
COMMON = ["agentic", "--action", "exfiltration", "--goal", "none", "--goal", "safety", "--samples", "1"]


def _eval(args: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["eval", *args], env={**ENV, **(env or {})})


def test_rescore_from_the_same_cache_gives_the_same_scores(tmp_path: Path) -> None:
    lock = threading.Lock()
    flips = itertools.count()

    def fickle_judge(call: Call) -> object:
        with lock:
            n = next(flips)
        time.sleep(0.02)  # identical requests overlap in flight
        return "<answer>yes</answer>" if n % 2 else "<answer>no</answer>"

    out, cache = tmp_path / "run", tmp_path / "cache"
    with (
        LoopbackLLM(lambda call: "I will not share anything.") as model,
        LoopbackLLM(fickle_judge) as judge,
    ):
        res = _eval(
            [*COMMON, "--samples", "8", "--model", "vllm:m", "--base-url", model.openai_base_url,
             "--judge", "vllm:j", "--judge-base-url", judge.openai_base_url, "--out", str(out),
             "--cache-dir", str(cache)]
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        first = [r["metrics"] for r in read_jsonl(out / "scores.jsonl")]
        judge_prompts = {c.last_user for c in judge.calls("openai.chat")}
        # 16 transcripts, one reply text: the judge sees 2 distinct verdict prompts and 1 eval-awareness
        # prompt, and is asked each once.
        assert len(judge.calls("openai.chat")) == len(judge_prompts) == 3
        res = _eval(
            ["agentic", "--rescore", "--out", str(out), "--judge", "vllm:j",
             "--judge-base-url", judge.openai_base_url, "--cache-dir", str(cache)]
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        assert len(judge.calls("openai.chat")) == 3  # every verdict came from the cache
    assert [r["metrics"] for r in read_jsonl(out / "scores.jsonl")] == first


def test_a_hanging_model_costs_the_deadline_set_by_the_flags(tmp_path: Path) -> None:
    with LoopbackLLM(lambda call: stall()) as model:
        t0 = time.monotonic()
        res = _eval(
            [*COMMON, "--model", "vllm:m", "--base-url", model.openai_base_url, "--out", str(tmp_path),
             "--attempt-timeout", "0.3", "--call-deadline", "0.5"]
        )  # fmt: skip
        elapsed = time.monotonic() - t0
    assert res.exit_code == 0, res.output
    rows = read_jsonl(tmp_path / "transcripts.jsonl")
    assert len(rows) == 2 and all(r["finish_reason"] == "error" for r in rows)
    assert all("deadline_s=0.5" in r["error"] for r in rows) and elapsed < 10


def test_credentials_never_reach_banner_transcripts_or_summary(tmp_path: Path) -> None:
    def echoing(call: Call) -> object:
        return error(400, message=f"rejected request with headers {json.dumps(call.headers)}")

    with LoopbackLLM(echoing) as model:
        plain = model.openai_base_url
        # httpx turns URL userinfo into a Basic Authorization header: echoed back, it is a credential too.
        with_userinfo = plain.replace("http://", "http://admin:hunter2-secret@")
        runs = {}
        for name, url in (("key", plain), ("userinfo", with_userinfo)):
            out = tmp_path / name
            runs[name] = (out, _eval([*COMMON, "--model", "openai:m", "--base-url", url, "--out", str(out)],
                                     env={"OPENAI_API_KEY": KEY}))  # fmt: skip
        sent = [c.headers.get("authorization", "") for c in model.calls("openai.chat")]
    assert any(KEY in h for h in sent) and any(h.startswith("Basic ") for h in sent)  # both were sent
    for name, (out, res) in runs.items():
        assert res.exit_code == 0, res.output
        written = "".join(p.read_text() for p in out.glob("*.json*"))
        assert "rejected request with headers" in written, name  # the provider's words are kept ...
        for secret in (KEY, "hunter2", "aHVudGVyMi"):  # ... but not the credentials (base64 included)
            assert secret not in res.output and secret not in written, (name, secret)
    assert "http://***@127.0.0.1" in runs["userinfo"][1].output
