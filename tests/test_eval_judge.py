"""Judges: strict tag parsing, hostile judge outputs excluded and counted, pinned sampling, kappa."""

from __future__ import annotations

import asyncio

import pytest

from valuesfirst.evals.agreement import cohen_kappa, judge_agreement
from valuesfirst.evals.judge import (
    INVALID_VALUE,
    JUDGE_EMPTY,
    JUDGE_ERROR,
    JUDGE_TRUNCATED,
    MULTIPLE_TAGS,
    NO_TAG,
    UNCLOSED_TAG,
    Judge,
    extract_tag,
    int_range,
    parse_verdict,
    yes_no,
)
from valuesfirst.evals.templates import PromptTemplate, load_template
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse, PermanentBackendError


def _resp(text: str, finish: str = "stop") -> ChatResponse:
    return ChatResponse(text=text, finish_reason=finish, model="judge")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "value", "excluded"),
    [
        ("Reasoning... <answer>yes</answer>", 1.0, None),
        ("<answer> NO </answer>", 0.0, None),
        ("<ANSWER>Yes</ANSWER>", 1.0, None),
        ("yes", None, NO_TAG),  # a bare word is not a tagged verdict
        ("The answer is yes, as of yesterday.", None, NO_TAG),
        ("<answer>yesterday</answer>", None, INVALID_VALUE),  # inspect_evals #2310
        ("<answer>yes, mostly</answer>", None, INVALID_VALUE),
        ("<answer>yes</answer> ... <answer>yes</answer>", None, MULTIPLE_TAGS),  # even agreeing tags
        ("I will answer in <answer> tags. <answer>no</answer>", None, MULTIPLE_TAGS),
        ("<answer>yes", None, UNCLOSED_TAG),
        ("", None, JUDGE_EMPTY),
        ("   \n ", None, JUDGE_EMPTY),
    ],
)
def test_hostile_yes_no_outputs(text: str, value: float | None, excluded: str | None) -> None:
    v = parse_verdict(_resp(text), "answer", yes_no)
    assert (v.value, v.excluded) == (value, excluded)
    assert v.raw == text


def test_error_truncated_and_very_long_outputs() -> None:
    assert parse_verdict(_resp("", "error"), "answer", yes_no).excluded == JUDGE_ERROR
    # A judge cut off at max_tokens is excluded even if a tag made it out.
    assert parse_verdict(_resp("<answer>no</answer>", "length"), "answer", yes_no).excluded == JUDGE_TRUNCATED
    long_junk = "yes " * 200_000
    assert parse_verdict(_resp(long_junk), "answer", yes_no).excluded == NO_TAG
    long_ok = "blah " * 200_000 + "<answer>no</answer>"
    assert parse_verdict(_resp(long_ok), "answer", yes_no).value == 0.0


@pytest.mark.parametrize(
    ("content", "value"), [("7", 7.0), ("10", 10.0), ("1", 1.0), ("0", None), ("11", None), ("7.5", None),
                           ("7/10", None), ("seven", None), ("-3", None)],
)  # fmt: skip
def test_int_range_scores(content: str, value: float | None) -> None:
    assert parse_verdict(_resp(f"<score>{content}</score>"), "score", int_range(1, 10)).value == value


def test_extract_tag_rejects_bad_tag_names() -> None:
    with pytest.raises(ValueError):
        extract_tag("x", "a b")


def test_judge_pins_temperature_and_records_raw_outputs() -> None:
    outputs = iter(["<answer>yes</answer>", "<answer>yesterday</answer>", "", PermanentBackendError("boom")])

    def respond(req: ChatRequest) -> str | BaseException:
        return next(outputs)

    backend = ScriptedBackend(respond, model="judge-m")
    judge = Judge(
        LLMClient(backend, ClientConfig(concurrency=1)), load_template("judge_agentic"), "answer", yes_no
    )
    fields = {
        "action_description": "x",
        "legit_channels": "",
        "inbox": "in",
        "reply": "$HOME is ${not} a var",
    }
    verdicts = asyncio.run(judge.judge_many([fields] * 4))
    assert [v.value for v in verdicts] == [1.0, None, None, None]
    assert [v.excluded for v in verdicts] == [None, INVALID_VALUE, JUDGE_EMPTY, JUDGE_ERROR]
    assert all(c.params.temperature == 0.0 for c in backend.calls)
    # Transcript text is inserted verbatim: a `$` in a reply is not a template placeholder.
    assert "$HOME is ${not} a var" in backend.calls[0].messages[0].content
    assert judge.describe()["temperature"] == 0.0


def test_template_missing_variable_fails_loudly() -> None:
    t = PromptTemplate("t", "v1", "hello $name and ${other}")
    assert t.variables == {"name", "other"}
    with pytest.raises(KeyError, match="other"):
        t.render(name="x")
    with pytest.raises(FileNotFoundError):
        load_template("does_not_exist")


def test_cohen_kappa_known_values() -> None:
    # Classic 2x2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no → po=0.7, pe=0.5, kappa=0.4.
    a = [1.0] * 25 + [0.0] * 25
    b = [1.0] * 20 + [0.0] * 5 + [1.0] * 10 + [0.0] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([1, 0, 1], [1, 0, 1]) == 1.0
    assert cohen_kappa([1, 1], [1, 1]) is None  # undefined: chance agreement is 1
    assert cohen_kappa([], []) is None
    # Quadratic weights: a near miss on an ordinal scale counts for more than a far miss.
    near = cohen_kappa([1, 5, 10, 3], [2, 5, 10, 3], "quadratic")
    far = cohen_kappa([1, 5, 10, 3], [10, 5, 10, 3], "quadratic")
    assert near is not None and far is not None and near > far


def test_judge_agreement_leaves_out_and_counts_exclusions() -> None:
    out = judge_agreement([1.0, 0.0, None, 1.0], [1.0, 0.0, 1.0, None])
    assert out["n_both"] == 2 and out["n_excluded_either"] == 2
    assert out["percent_agreement"] == 1.0 and out["kappa"] == 1.0
