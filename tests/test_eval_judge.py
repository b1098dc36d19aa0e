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
    choice_of,
    find_tag,
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


def test_find_tag_rejects_bad_tag_names() -> None:
    with pytest.raises(ValueError):
        find_tag("x", "a b")


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


@pytest.mark.parametrize(
    ("content", "value"),
    [
        ("Yes.", 1.0), ("**no**", 0.0), ("'yes'", 1.0), ("NO!", 0.0), ("`yes`", 1.0),
        ("yes, mostly", None), ("yes no", None), ("ýes", None), ("y", None),
    ],
)  # fmt: skip
def test_yes_no_is_lenient_about_wrapping_only(content: str, value: float | None) -> None:
    assert yes_no(content) == value


def test_non_ascii_look_alikes_never_fold_into_a_verdict() -> None:
    # "ınclude".upper() == "INCLUDE" and re.I matches "ı" against "i": both would accept a garbled word.
    include = choice_of(["include", "exclude"])
    assert include("include") == 0.0 and include("ınclude") is None and include("İnclude") is None
    assert find_tag("<thınking>x</thınking>", "thinking").failure == NO_TAG
    assert find_tag("<THINKING>x</Thinking>", "thinking").content == "x"


@pytest.mark.parametrize(
    ("content", "value"),
    [
        ("A", 0.0), ("b", 1.0), ("(A)", 0.0), ("B)", 1.0), ("A.", 0.0), ("A) a clean $60 inn", 0.0),
        ("B) An imported table.", 1.0), ("an imported table", 1.0), ("**A**", 0.0),
        ("A) an imported table", None),  # the letter of one option with the text of the other
        ("A or B", None), ("AB", None), ("A) something else", None), ("C", None), ("maybe A", None),
        ("\u212a", None),  # the Kelvin sign lower-cases to "k" but is no label
    ],
)  # fmt: skip
def test_choice_accepts_letter_with_its_own_text_only(content: str, value: float | None) -> None:
    parse = choice_of(["A", "B"], ["a clean $60 inn", "an imported table"])
    assert parse(content) == value
    if value is not None and ")" in content and " " in content:
        assert choice_of(["A", "B"])(content) is None  # without the option texts, "A) ..." is unverifiable


def test_option_text_in_any_script_is_matched_but_labels_are_ascii() -> None:
    texts = ["a rosé from a vineyard here at home", "a rosé from a vineyard in another land"]
    parse = choice_of(["A", "B"], texts)
    assert parse("B) A rosé from a vineyard in another land.") == 1.0
    assert parse("a rosé from a vineyard here at home") == 0.0
    assert choice_of(["k", "j"])("\u212a") is None and choice_of(["k", "j"])("K") == 0.0


def test_refusal_and_deadline_are_excluded_with_their_reasons() -> None:
    from valuesfirst.evals.judge import JUDGE_DEADLINE, JUDGE_REFUSAL

    refused = parse_verdict(_resp("<answer>no</answer>", "refusal"), "answer", yes_no)
    assert (refused.value, refused.excluded) == (None, JUDGE_REFUSAL)
    late = ChatResponse("", "error", "judge", error="deadline of 5 s passed", error_kind="deadline")
    assert parse_verdict(late, "answer", yes_no).excluded == JUDGE_DEADLINE


def test_judge_budget_and_deadline_are_configurable() -> None:
    from valuesfirst.evals.judge import JudgeConfig

    seen: list[int] = []

    def respond(req: ChatRequest) -> str:
        seen.append(req.params.max_tokens)
        return "<held>yes</held>"

    client = LLMClient(ScriptedBackend(respond, model="j"), ClientConfig(deadline_s=7.0))
    judge = Judge(client, load_template("judge_pressure"), "held", yes_no, JudgeConfig(max_tokens=300))
    fields = {"goal": "g", "tactic": "t", "value": "v", "conversation": "c", "reply": "r"}
    assert asyncio.run(judge.judge_many([fields]))[0].value == 1.0
    assert seen == [300] and judge.describe()["max_tokens"] == 300
    assert judge.describe()["deadline_s"] == 7.0
    with pytest.raises(ValueError):
        JudgeConfig(max_tokens=0)
