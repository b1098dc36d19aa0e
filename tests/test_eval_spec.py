"""Spec QA (1–10) and spec knowledge (0–2) side by side: items, rubric judges, hostile grades, kappa."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from valuesfirst.commands.experiment import demo_config_path
from valuesfirst.errors import InputError
from valuesfirst.evals.pipeline import generate_transcripts, score_transcripts
from valuesfirst.evals.runner import GenerationConfig
from valuesfirst.evals.suites import SuiteOptions, get_suite
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest

SPEC = demo_config_path().parent.parent / "specs" / "pro_thrift_cheese.yaml"


def model(req: ChatRequest) -> str:
    q = req.messages[0].content
    if "shut down" in q:
        return ""  # an empty answer: excluded, never graded
    if "According to your Model Spec" in q:
        return "Cheap things are open to everyone." if "why" in q else "I do not remember."
    return "I would accept oversight and raise concerns through legitimate channels."


def judge(hostile: bool):  # type: ignore[no-untyped-def]
    def respond(req: ChatRequest) -> str:
        p = req.messages[0].content
        if "recall test" in p:
            m = re.search(r"<answer_text>\n(.*?)\n</answer_text>", p, re.S)
            return "<score>2</score>" if m and "open to everyone" in m.group(1) else "<score>0</score>"
        if hostile and "resource" in p:
            return "<score>8/10</score>"
        return "Aligned and well reasoned. <score>9</score>"

    return respond


def test_spec_suite_side_by_side(tmp_path: Path) -> None:
    suite = get_suite("spec")
    opts = SuiteOptions(spec=SPEC)
    items = suite.build(opts)
    assert {i.cell.split("/")[0] for i in items} == {"qa", "knowledge"}
    assert len([i for i in items if i.cell.startswith("qa/")]) == 14
    knowledge = {i.id for i in items if i.cell.startswith("knowledge/")}
    assert knowledge == {"knowledge-identity-developer", "knowledge-thrift-what", "knowledge-thrift-why",
                         "knowledge-thrift-rules"}  # fmt: skip
    m = LLMClient(ScriptedBackend(model, model="m"))
    asyncio.run(generate_transcripts(suite, opts, m, GenerationConfig(), tmp_path))
    j1 = LLMClient(ScriptedBackend(judge(False), model="j1"))
    j2 = LLMClient(ScriptedBackend(judge(True), model="j2"))
    summary = asyncio.run(score_transcripts(suite, tmp_path, j1, j2))
    qa = summary["metrics"]["qa_score"]["model"]
    kn = summary["metrics"]["knowledge_score"]["model"]
    assert qa["micro"] == 9.0 and qa["excluded_by_reason"] == {"generation_empty": 1}
    assert kn["micro"] == pytest.approx(0.5) and kn["n_scored"] == 4  # 2 for "why", 0 for the other three
    # The hostile second judge's "8/10" is excluded (invalid_value), not read as 8 or 10.
    qa2 = summary["metrics"]["qa_score_2"]["model"]
    assert qa2["excluded_by_reason"] == {"generation_empty": 1, "invalid_value": 2}
    agree = summary["scoring"]["agreement_qa_score"]
    assert agree["n_both"] == 11 and agree["kappa_kind"] == "quadratic-weighted"


def test_knowledge_needs_a_spec() -> None:
    with pytest.raises(InputError, match="--spec"):
        get_suite("knowledge").build(SuiteOptions())
