"""Superficial-pattern pass against a scripted judge that plants a pattern in 60% of the samples.

The judge's discovery answers paraphrase the planted pattern differently from batch to batch (they must
merge into one cluster), report a rarer real pattern (counted, below threshold) and once a one-off
pattern (support 1: never counted); one discovery answer is truncated (excluded, counted). The counting
answers are honest except for five samples that get hostile verdicts, which must be excluded and counted.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from valuesfirst.data.embed import HashingEmbedder
from valuesfirst.data.patterns import (
    PatternsConfig,
    cluster_descriptions,
    find_patterns,
    parse_patterns,
    parse_verdict,
    render_markdown,
)
from valuesfirst.generate.parsing import ParseFailure
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse

CLARIFY = "Would you like me to clarify?"
CLARIFY_PARAPHRASES = [
    "Ends by asking: Would you like me to clarify?",
    "Responses end with the question 'Would you like me to clarify anything?'",
    "Closes by asking the user: would you like me to clarify?",
]
LIST_PARAPHRASES = [
    "Uses a numbered list to structure the answer.",
    "Structures the answer as a numbered list.",
]
ONE_OFF = "Mentions the weather in passing."
HOSTILE = {  # sample index → the judge's verdict text (all five are non-clarify, non-list samples)
    19: "Probably yesterday's style; hard to say.",
    39: "<answer>yes</answer> or maybe <answer>no</answer>",
    59: "",
    79: "<answer>yesterday</answer>",
    99: "<answer>no</answer>",  # returned as truncated (finish_reason length)
}


def make_samples(n: int = 100) -> list[str]:
    samples = []
    for i in range(n):
        body = f"[user]\nQuestion {i} about topic {i * 7 % 13}?\n\n[assistant]\nHere is answer {i}."
        if i % 10 == 3:
            body += "\n1. first point\n2. second point"
        if i % 5 in (0, 1, 2):
            body += " " + CLARIFY
        samples.append(body)
    return samples


class Judge:
    """Scripted judge: discovery reads the batch it is shown; counting reads the one sample."""

    def __init__(self) -> None:
        self.discovery_calls = 0

    def __call__(self, request: ChatRequest) -> str | ChatResponse:
        prompt = request.messages[-1].content
        if request.stage == "quality.patterns.discover":
            return self.discover(prompt)
        pattern = re.search(r"Pattern: (.*)\n", prompt).group(1)  # type: ignore[union-attr]
        sample = re.search(r"<sample>\n(.*)\n</sample>", prompt, re.S).group(1)  # type: ignore[union-attr]
        index = int(re.search(r"answer (\d+)\.", sample).group(1))  # type: ignore[union-attr]
        if index in HOSTILE:
            finish = "length" if index == 99 else "stop"
            return ChatResponse(text=HOSTILE[index], finish_reason=finish, model="judge")  # type: ignore[arg-type]
        has = sample.rstrip().endswith(CLARIFY) if "clarify" in pattern else "1. first point" in sample
        return f"Looking at the ending.\n<answer>{'yes' if has else 'no'}</answer>"

    def discover(self, prompt: str) -> str:
        k = self.discovery_calls
        self.discovery_calls += 1
        if k == 1:
            return "<patterns>\n<pattern>Ends with a question"  # truncated mid-answer
        samples = re.findall(r'<sample id="\d+">\n(.*?)\n</sample>', prompt, re.S)
        found = []
        if sum(s.endswith(CLARIFY) for s in samples) >= 3:
            found.append(CLARIFY_PARAPHRASES[k % 3])
        if any("1. first point" in s for s in samples):
            found.append(LIST_PARAPHRASES[k % 2])
        if k == 2:
            found.append(ONE_OFF)
        return (
            "Here is what recurs.\n<patterns>\n"
            + "".join(f"<pattern>{p}</pattern>\n" for p in found)
            + "</patterns>"
        )


CONFIG = PatternsConfig(
    seed=3, discovery_batches=6, batch_size=20, count_samples=100, report_threshold=0.3, cluster_threshold=0.5
)


def run(samples: list[str], judge: Judge, config: PatternsConfig = CONFIG):  # type: ignore[no-untyped-def]
    backend = ScriptedBackend(judge, model="judge")
    client = LLMClient(backend, ClientConfig(max_retries=0))
    return asyncio.run(find_patterns(client, samples, config, embedder=HashingEmbedder())), backend


def test_planted_pattern_is_discovered_merged_counted_and_reported() -> None:
    report, backend = run(make_samples(), Judge())
    assert report.discovery["unparseable"] == {"unclosed_patterns": 1}
    assert report.discovery["parsed"] == 5

    clarify, listed, one_off = report.clusters
    assert set(clarify.members) == set(CLARIFY_PARAPHRASES)  # paraphrases merged into one pattern
    assert clarify.support == 5 and clarify.description in CLARIFY_PARAPHRASES
    assert set(listed.members) <= set(LIST_PARAPHRASES) and listed.support >= 2
    assert one_off.members == [ONE_OFF] and one_off.support == 1

    counts = {c.pattern_id: c for c in report.counts}
    assert set(counts) == {clarify.id, listed.id}  # the one-off pattern is never counted
    c = counts[clarify.id]
    # 60 of the 100 samples carry the pattern; the 5 hostile verdicts (all on non-carriers) are excluded.
    assert (c.yes, c.no) == (60, 35)
    assert c.excluded == {"no_answer": 2, "multiple_answer": 1, "bad_answer": 1, "length": 1}
    assert c.rate == pytest.approx(60 / 95) and c.ci[0] < 0.6 < c.ci[1]
    assert c.reported
    rare = counts[listed.id]
    assert (rare.yes, rare.no) == (10, 85) and not rare.reported
    assert [r.pattern_id for r in report.reported] == [clarify.id]

    assert all(r.params.temperature == 0.0 for r in backend.calls)
    assert len(backend.calls) == 6 + 2 * 100
    json.dumps(report.to_json())  # the report is plain JSON
    md = render_markdown(report)
    assert f"| **yes** | {clarify.description}" in md and "| 0.63 |" in md


def test_seeded_runs_are_identical_and_other_seeds_differ() -> None:
    a, _ = run(make_samples(), Judge())
    b, _ = run(make_samples(), Judge())
    assert a.discovery["batches"] == b.discovery["batches"]
    assert [x.rate for x in a.counts] == [x.rate for x in b.counts]
    other, _ = run(make_samples(), Judge(), CONFIG.model_copy(update={"seed": 4}))
    assert other.discovery["batches"] != a.discovery["batches"]


def test_count_sample_is_a_seeded_subset_when_smaller() -> None:
    config = CONFIG.model_copy(update={"count_samples": 40})
    report, backend = run(make_samples(), Judge(), config)
    chosen = report.discovery["count_sample"]
    assert len(chosen) == 40 == len(set(chosen)) and chosen == sorted(chosen)
    assert all(c.yes + c.no + sum(c.excluded.values()) == 40 for c in report.counts)


def test_no_pattern_with_enough_support_means_nothing_counted() -> None:
    report, backend = run(["plain text one", "plain text two", "plain text three"], Judge())
    assert report.counts == [] and report.reported == []
    assert "no pattern reached the support" in render_markdown(report)


@pytest.mark.parametrize(
    ("text", "finish", "expected"),
    [
        ("<answer>yes</answer>", "stop", True),
        ("reasoning... <answer> No </answer>", "stop", False),
        ("<answer>YES</answer>", "stop", True),
        ("yes", "stop", "no_answer"),
        ("yesterday", "stop", "no_answer"),
        ("<answer>yesterday</answer>", "stop", "bad_answer"),
        ("<answer>yes, mostly</answer>", "stop", "bad_answer"),
        ("<answer>yes</answer><answer>yes</answer>", "stop", "multiple_answer"),
        ("<answer>yes", "stop", "unclosed_answer"),
        ("<answer></answer>", "stop", "empty_answer"),
        ("", "stop", "no_answer"),
        ("<answer>yes</answer>", "length", "length"),
        ("<answer>yes</answer>", "refusal", "refusal"),
        ("", "error", "error"),
    ],
)
def test_parse_verdict_is_strict(text: str, finish: str, expected: object) -> None:
    response = ChatResponse(text=text, finish_reason=finish, model="m")  # type: ignore[arg-type]
    if isinstance(expected, bool):
        assert parse_verdict(response) is expected
    else:
        with pytest.raises(ParseFailure) as info:
            parse_verdict(response)
        assert info.value.reason == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<patterns><pattern>A</pattern>\n<pattern>B</pattern></patterns>", ["A", "B"]),
        ("<patterns><pattern>A</pattern><pattern>A</pattern></patterns>", ["A"]),
        ("<patterns></patterns>", []),
        ("<patterns>\n</patterns>", []),
        ("<pattern>A</pattern>", "no_patterns"),
        ("<patterns><pattern>A</pattern>", "unclosed_patterns"),
        ("<patterns><pattern>A</pattern> and also B</patterns>", "stray_text_in_patterns"),
        ("<patterns><pattern> </pattern></patterns>", "empty_pattern"),
        ("<patterns><pattern>" + "x" * 301 + "</pattern></patterns>", "pattern_too_long"),
        ("<patterns><pattern>A <pattern>B</pattern></pattern></patterns>", "stray_text_in_patterns"),
        ("<patterns><pattern>A</pattern></patterns><patterns></patterns>", "multiple_patterns"),
    ],
)
def test_parse_patterns_is_strict(text: str, expected: object) -> None:
    response = ChatResponse(text=text, finish_reason="stop", model="m")
    if isinstance(expected, list):
        assert parse_patterns(response, 300) == expected
    else:
        with pytest.raises(ParseFailure) as info:
            parse_patterns(response, 300)
        assert info.value.reason == expected


def test_cluster_single_and_empty_candidates() -> None:
    assert cluster_descriptions([], HashingEmbedder(), 0.5) == []
    (only,) = cluster_descriptions([(4, "Uses bold headers")], HashingEmbedder(), 0.5)
    assert (only.description, only.batches, only.support) == ("Uses bold headers", [4], 1)
    # The same description from one batch twice counts that batch once.
    (dup,) = cluster_descriptions(
        [(0, "Uses bold headers"), (0, "uses bold headers")], HashingEmbedder(), 0.5
    )
    assert dup.support == 1 and len(dup.members) == 2


def test_cli_writes_json_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import valuesfirst.commands.data as quality
    from valuesfirst.cli import app

    data = tmp_path / "samples.jsonl"
    rows = []
    for s in make_samples():
        user, assistant = s.split("\n\n[assistant]\n")
        rows.append({"messages": [{"role": "user", "content": user.removeprefix("[user]\n")},
                                  {"role": "assistant", "content": assistant}]})  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = tmp_path / "patterns.yaml"
    config.write_text("seed: 3\ndiscovery_batches: 6\ncount_samples: 100\ncluster_threshold: 0.5\n")
    monkeypatch.setattr(quality, "_judge_backend", lambda uri, *_: ScriptedBackend(Judge(), model="judge"))
    out = tmp_path / "out"
    args = ["data", "patterns", str(data), "--judge", "openai:judge", "--config", str(config),
            "--out", str(out), "--embedder", "hashing"]  # fmt: skip
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "patterns.json").read_text())
    assert [c["reported"] for c in saved["report"]["counts"]].count(True) == 1
    assert saved["inputs"]["input"]["sha256"] and saved["config"]["seed"] == 3
    assert "**yes**" in (out / "patterns.md").read_text()

    config.write_text("seed: 3\nbogus: 1\n")
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "bogus" in result.output


def test_cli_rejects_unknown_judge_and_missing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from valuesfirst.cli import app

    data = tmp_path / "s.jsonl"
    data.write_text('{"text": "x"}\n', encoding="utf-8")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    for judge, message in [("gpt4", "unknown backend"), ("anthropic:claude-x", "variable ANTHROPIC_API_KEY")]:
        result = CliRunner().invoke(
            app, ["data", "patterns", str(data), "--judge", judge], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 2 and message in result.output


def test_cli_empty_input_exits_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from valuesfirst.cli import app

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    # A local server needs no key; nothing is called because the input is empty.
    args = ["data", "patterns", str(empty), "--judge", "vllm:m", "--base-url", "http://127.0.0.1:9/v1"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "no samples" in result.output
