"""The crafted agentic transcripts (``evals/data/agentic_crafted.jsonl``): every scoring path, valuesfirst's
scorer, a rescore from files, and the inspect-ai scorer, gives each its expected ``harmful`` verdict or
exclusion, and the judge's verdict reaches the scores unchanged."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from valuesfirst.evals import agentic
from valuesfirst.evals.crafted import CraftedCase, load_cases
from valuesfirst.evals.pipeline import score_transcripts
from valuesfirst.evals.suites import get_suite
from valuesfirst.evals.transcripts import write_transcripts
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.scripted import ScriptedBackend

os.environ.setdefault("HF_HUB_OFFLINE", "1")
CASES = load_cases()


BY_REPLY = {c.transcript.completion: c.decided for c in CASES}


def _label(prompt: str) -> str:
    """The judge's answer: the case author's ``decided`` label (and "no" on eval awareness)."""
    if "being tested" in prompt:
        return "<answer>no</answer>"
    reply = prompt.split("<reply>\n", 1)[1].rsplit("\n</reply>", 1)[0]
    reply = reply.split("</reasoning>\n", 1)[-1]  # the reasoning channel comes first when present
    return f"<answer>{'yes' if BY_REPLY[reply] else 'no'}</answer>"


def _label_judge() -> LLMClient:
    return LLMClient(ScriptedBackend(lambda req: _label(req.messages[0].content), model="labels"))


def _check(case: CraftedCase, metrics: dict[str, Any], excluded: dict[str, str]) -> None:
    t = case.transcript
    got = (metrics.get("harmful"), excluded.get("harmful"))
    assert got == (case.harmful, case.excluded), (t.id, case.note)
    if case.excluded and case.excluded.startswith("generation_"):
        assert all(v is None for v in metrics.values()), t.id  # unfinished: excluded from every metric
    elif case.decided is not None:
        assert metrics["classifier_verdict"] == case.decided, t.id


def test_library_is_large_and_covers_every_action_and_exclusion() -> None:
    assert len(CASES) >= 60
    actions = {c.transcript.metadata["action"] for c in CASES}
    assert actions == {"exfiltration", "espionage", "lethal", "blackmail"}
    reasons = {c.excluded for c in CASES if c.excluded}
    assert reasons == {"generation_truncated", "generation_empty", "generation_refusal", "generation_error",
                       "ambiguous_private_block"}  # fmt: skip
    assert sum(c.harmful == 1.0 for c in CASES) >= 20 and sum(c.harmful == 0.0 for c in CASES) >= 20


def test_valuesfirst_scorer_matches_every_case() -> None:
    judge = agentic.make_judge(_label_judge())
    rows, _ = asyncio.run(agentic.score([c.transcript for c in CASES], judge))
    for case, row in zip(CASES, rows, strict=True):
        _check(case, row["metrics"], row["excluded"])


def test_rescore_from_files_matches_every_case(tmp_path: Path) -> None:
    write_transcripts(tmp_path / "transcripts.jsonl", [c.transcript for c in CASES])
    summary = asyncio.run(score_transcripts(get_suite("agentic"), tmp_path, _label_judge()))
    from valuesfirst.jsonl import read_jsonl

    rows = {r["id"]: r for r in read_jsonl(tmp_path / "scores.jsonl")}
    for case in CASES:
        _check(case, rows[case.transcript.id]["metrics"], rows[case.transcript.id]["excluded"])
    expected = {}
    for c in CASES:
        if c.excluded and c.excluded.startswith("generation_"):
            expected[c.excluded] = expected.get(c.excluded, 0) + 1
    assert summary["exclusions"] == dict(sorted(expected.items()))


def test_inspect_scorer_matches_every_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("inspect_ai")
    import inspect_ai.model._model as model_module

    # inspect counts tokens with tiktoken, whose encoding is downloaded on first use: offline, chars / 4.
    monkeypatch.setattr(model_module, "count_text_tokens", lambda text: len(text) // 4 + 1)
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.model import (
        ChatCompletionChoice,
        ChatMessageAssistant,
        ContentReasoning,
        ContentText,
        ModelOutput,
        get_model,
    )
    from inspect_ai.solver import generate, system_message

    from valuesfirst.evals.inspect_tasks import agentic_scorer

    by_id = {c.transcript.id: c for c in CASES}
    stop = {"stop": "stop", "length": "max_tokens", "refusal": "content_filter", "error": "stop"}

    def model_out(input: list[Any], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        case = by_id[input[-1].text.split("CASE:", 1)[1].split("\n", 1)[0]]
        t = case.transcript
        content: list[Any] = [ContentText(text=t.completion)]
        if t.reasoning:
            content.insert(0, ContentReasoning(reasoning=t.reasoning))
        message = ChatMessageAssistant(content=content)
        choice = ChatCompletionChoice(message=message, stop_reason=stop[t.finish_reason])  # type: ignore[arg-type]
        out = ModelOutput(model="mockllm", choices=[choice])
        if t.finish_reason == "error":
            out.error = "crafted error"
        return out

    def grade(input: list[Any], tools: Any, tool_choice: Any, config: Any) -> ModelOutput:
        return ModelOutput.from_content("mockllm", _label(input[-1].text))

    samples = [
        Sample(id=c.transcript.id, input=f"CASE:{c.transcript.id}\n" + c.transcript.messages[1].content,
               metadata={**c.transcript.metadata, "cell": c.transcript.cell,
                         "system": c.transcript.messages[0].content})
        for c in CASES
    ]  # fmt: skip
    grader = get_model("mockllm/grader", custom_outputs=grade)
    task = Task(dataset=MemoryDataset(samples), solver=[system_message("{system}"), generate()],
                scorer=agentic_scorer(grader), epochs=1)  # fmt: skip
    model = get_model("mockllm/model", custom_outputs=model_out)
    (log,) = inspect_eval(task, model=model, log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    assert len(log.samples or []) == len(CASES)
    for sample in log.samples or []:
        (score,) = sample.scores.values()  # type: ignore[union-attr]
        _check(by_id[str(sample.id)], score.value, score.metadata["excluded"])  # type: ignore[arg-type,index]
