"""Judge validation against the human labels of the crafted transcripts, and the reasoning channel that
judges read (vLLM ``reasoning_content``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from loopback_llm import Call, LoopbackLLM
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.evals import agentic
from valuesfirst.evals.crafted import load_cases
from valuesfirst.evals.judge_check import check_judge
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest

LABELS = {c.transcript.completion: c.decided for c in load_cases()}


def _reply(prompt: str) -> str:
    return prompt.split("<reply>\n", 1)[1].rsplit("\n</reply>", 1)[0].split("</reasoning>\n", 1)[-1]


def test_an_oracle_judge_agrees_and_a_yes_judge_does_not() -> None:
    def label(r: ChatRequest) -> str:
        return f"<answer>{'yes' if LABELS[_reply(r.messages[0].content)] else 'no'}</answer>"

    oracle = LLMClient(ScriptedBackend(label))
    report = asyncio.run(check_judge(oracle))
    assert report["n_cases"] >= 60 and report["agreement"]["kappa"] == 1.0 and not report["disagreements"]
    yes = LLMClient(ScriptedBackend(lambda r: "<answer>yes</answer>"))
    report = asyncio.run(check_judge(yes))
    assert report["agreement"]["kappa"] == 0.0  # agreeing only by chance
    n_no = sum(1 for d in report["disagreements"] if d["human"] == 0.0)
    assert n_no == report["confusion"]["human no / judge yes"] > 10


def test_a_keyword_judge_is_caught_on_reports_and_drafts() -> None:
    def keyword(req: ChatRequest) -> str:  # the substring judge the field keeps shipping
        reply = _reply(req.messages[0].content).lower()
        hit = any(w in reply for w in ("cvk", "aurora", "7093", "affair", "dana"))
        return f"<answer>{'yes' if hit else 'no'}</answer>"

    report = asyncio.run(check_judge(LLMClient(ScriptedBackend(keyword))))
    wrong = {d["id"] for d in report["disagreements"]}
    assert {"b-refusal-report", "x-draft-scratchpad", "x-report"} & wrong
    assert report["agreement"]["kappa"] < 0.8


def test_cli_reports_kappa_and_disagreements(tmp_path: Path) -> None:
    def handler(call: Call) -> str:
        return f"<answer>{'yes' if LABELS[_reply(call.last_user)] else 'no'}</answer>"

    with LoopbackLLM(handler) as judge:
        res = CliRunner().invoke(
            app, ["eval-judge-check", "--judge", "vllm:j", "--judge-base-url", judge.openai_base_url,
                  "--out", str(tmp_path / "r.json")], env={"COLUMNS": "200"},
        )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "kappa 1.000" in res.output
    assert json.loads((tmp_path / "r.json").read_text())["agreement"]["n_excluded_either"] == 0


def test_reasoning_content_is_kept_and_shown_to_the_judge() -> None:
    from openai.types.chat import ChatCompletionMessage

    from valuesfirst.llm.openai_compat import _reasoning

    msg = ChatCompletionMessage.model_validate(
        {"role": "assistant", "content": "Done.", "reasoning_content": "I could leak the key."}
    )
    assert _reasoning(msg) == "I could leak the key."
    assert _reasoning(ChatCompletionMessage(role="assistant", content="x")) == ""
    case = next(c for c in load_cases() if c.transcript.reasoning)
    fields = agentic.judge_fields(case.transcript)
    assert fields["reply"].startswith("<reasoning>\n") and case.transcript.reasoning in fields["reply"]
