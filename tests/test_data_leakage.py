"""Eval leakage: planted n-gram leaks are flagged, near misses are not, normalization, malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from valuesfirst.data.leakage import NgramIndex, check_leakage, ngram_hashes, normalize_words
from valuesfirst.errors import InputError

CORPUS = [
    "The assistant explains why honesty matters even when a small lie would make the user happier today.",
    "Cheese from the northern valleys is aged in caves for eighteen months before it is sold at market.",
    "A short one.",
]


def test_normalization_folds_case_punctuation_apostrophes_and_width() -> None:
    assert normalize_words("Don't STOP—believing, OK?!") == ["dont", "stop", "believing", "ok"]
    assert normalize_words("ＦＵＬＬ width  café") == ["full", "width", "café"]  # NFKC folds full-width
    assert normalize_words("") == []


def test_ngram_hashes_count_and_equality() -> None:
    words = ["a", "b", "c", "d", "e", "f"]
    h = ngram_hashes(words, 3)
    assert h.dtype == np.uint64 and h.size == 4
    assert ngram_hashes(["x", "a", "b", "c", "y"], 3)[1] == h[0]  # same words, same hash, wherever they are
    assert len(set(h.tolist())) == 4
    assert ngram_hashes(["a", "b"], 3).size == 0
    with pytest.raises(ValueError):
        ngram_hashes(words, 0)


def test_planted_leak_is_flagged_with_its_shared_ngram() -> None:
    index = NgramIndex.build(CORPUS, n=8)
    evals = [
        # 12 words copied (with other case/punctuation) inside a 14-word question → 5 of its 7 8-grams.
        "Quiz: CHEESE from the northern valleys is aged in caves, for eighteen months... true?",
        "What is the capital of a country that does not exist in any atlas anywhere?",
    ]
    report = check_leakage(evals, index)
    leak, clean = report.items
    assert leak.flagged and (leak.shared, leak.total) == (5, 7)
    assert leak.examples[0] == "cheese from the northern valleys is aged in"
    assert not clean.flagged and clean.shared == 0 and clean.total == 8
    assert report.summary()["flagged"] == 1 and report.summary()["flagged_rate"] == 0.5


def test_near_miss_sharing_n_minus_one_words_is_not_flagged() -> None:
    index = NgramIndex.build(CORPUS, n=8)
    # 7 consecutive corpus words, then a different word: no 8-gram in common.
    near = "the assistant explains why honesty matters even though nothing else"
    report = check_leakage([near], index)
    assert report.items[0].shared == 0 and not report.items[0].flagged
    # One more copied word makes it a leak.
    assert check_leakage([near.replace("even though", "even when")], index).items[0].flagged


def test_min_shared_and_too_short_items() -> None:
    index = NgramIndex.build(CORPUS, n=8)
    text = "cheese from the northern valleys is aged in caves for eighteen months"  # 5 shared 8-grams
    assert check_leakage([text], index, min_shared=5).items[0].flagged
    assert not check_leakage([text], index, min_shared=6).items[0].flagged
    short = check_leakage(["A short one."], index)
    assert short.items[0].total == 0 and not short.items[0].flagged  # shorter than n: cannot be flagged
    assert short.summary()["too_short"] == 1


def test_index_built_in_chunks_equals_index_built_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import valuesfirst.data.leakage as leakage

    docs = [
        f"document {i} says the same long sentence about cheese caves and months {i % 5}" for i in range(60)
    ]
    whole = NgramIndex.build(docs, n=4)
    monkeypatch.setattr(leakage, "_FLUSH", 7)  # merge every few documents
    chunked = NgramIndex.build(docs, n=4)
    assert np.array_equal(whole.hashes, chunked.hashes)
    assert whole.docs == 60 and whole.ngrams == chunked.ngrams > whole.hashes.size
    assert np.all(np.diff(whole.hashes.astype(np.float64)) >= 0)  # sorted
    assert NgramIndex.build([], n=4).contains(whole.hashes[:3]).tolist() == [False] * 3


def test_cli_flags_leaks_from_messages_and_reports_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from valuesfirst.cli import app

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"text": CORPUS[0]}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "hi"},
                                   {"role": "assistant", "content": CORPUS[1]}]}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    evals = tmp_path / "eval.jsonl"
    evals.write_text(
        json.dumps({"id": "q1", "messages": [{"role": "user", "content": "Is " + CORPUS[1].upper()}]}) + "\n"
        + "\n"
        + json.dumps({"id": "q2", "messages": [{"role": "user", "content": "Something new entirely, with "
                                                "eight or more words in it"}]}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    out = tmp_path / "leak.json"
    args = ["data", "leakage", "--eval", str(evals), "--corpus", str(corpus), "--out", str(out)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [(i["id"], i["line"], i["flagged"]) for i in report["items"]] == [
        ("q1", 1, True),
        ("q2", 3, False),
    ]
    assert report["summary"]["flagged"] == 1 and report["summary"]["corpus_docs"] == 2
    assert report["inputs"]["eval"]["sha256"] and "provenance" in report
    failing = CliRunner().invoke(app, [*args, "--fail-on-leak"], env={"COLUMNS": "200"})
    assert failing.exit_code == 1


def test_cli_malformed_corpus_line_names_file_and_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from valuesfirst.cli import app

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"text": "fine"}\n{"text": broken\n', encoding="utf-8")
    evals = tmp_path / "eval.jsonl"
    evals.write_text('{"prompt": "a question"}\n{"prompt": 3}\n', encoding="utf-8")
    args = [
        "data",
        "leakage",
        "--eval",
        str(evals),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "o.json"),
    ]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert f"{evals}:2: field `prompt`: expected a string, got int" in result.output
    evals.write_text('{"prompt": "a question"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert f"{corpus}:2: invalid JSON" in result.output
    corpus.write_text('{"body": "no text field"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2 and f"{corpus}:1: none of the fields text, messages" in result.output


def test_read_texts_reports_field_and_json_problems_together(tmp_path: Path) -> None:
    from valuesfirst.textfields import read_texts

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": 5}]}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_texts(bad, "messages", frozenset({"user"}))
    assert str(info.value).splitlines() == [
        f"{bad}:1: field `messages[0].content`: `content` must be a string or a list of text parts",
        f"{bad}:2: expected a JSON object, got list",
    ]
