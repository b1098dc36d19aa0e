"""``valuesfirst data dedup``: field extraction (text, messages by role, named fields), outputs, errors.

Uses ``--embedder hashing`` (wording-based, no model load) so the file stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from valuesfirst.cli import app
from valuesfirst.errors import InputError
from valuesfirst.textfields import row_text


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(app, args, env={"COLUMNS": "300"})


def write(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def chat(user: str, assistant: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": user},
                         {"role": "assistant", "content": assistant}]}  # fmt: skip


def test_dedup_messages_compares_user_turns_by_default(tmp_path: Path) -> None:
    rows = [
        chat("How should I store aged cheese?", "In a cool cellar."),
        chat("What is the capital of France?", "Paris."),
        chat("How should I store aged cheese?", "Wrap it in paper."),  # same question, other answer
        chat("Tell me a joke about cheese.", "In a cool cellar."),  # other question, same answer
    ]
    infile = write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    result = invoke(
        ["data", "dedup", str(infile), "--field", "messages", "--embedder", "hashing", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "threshold: 0.91" in result.output  # resolved config printed first
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    assert kept == [rows[0], rows[1], rows[3]]
    dropped = [json.loads(x) for x in (tmp_path / "out.dropped.jsonl").read_text().splitlines()]
    assert [(d["line"], d["duplicate_of_line"], d["cosine"]) for d in dropped] == [(3, 1, 1.0)]
    assert dropped[0]["row"] == rows[2]
    record = json.loads((tmp_path / "out.dedup.json").read_text())
    assert record["summary"]["kept"] == 3 and record["inputs"]["input"]["sha256"]

    # With the assistant turns compared instead, the fourth row duplicates the first.
    result = invoke(["data", "dedup", str(infile), "--field", "messages", "--roles", "assistant",
                     "--embedder", "hashing", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [json.loads(x) for x in out.read_text().splitlines()] == rows[:3]


def test_dedup_named_field_and_blank_lines_keep_true_line_numbers(tmp_path: Path) -> None:
    rows: list[Any] = [{"q": "alpha beta gamma"}, "", {"q": "ALPHA, beta gamma!"}, {"q": "delta"}]
    infile = write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "o.jsonl"
    result = invoke(
        ["data", "dedup", str(infile), "--field", "q", "--embedder", "hashing", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    dropped = [json.loads(x) for x in (tmp_path / "o.dropped.jsonl").read_text().splitlines()]
    assert [(d["line"], d["duplicate_of_line"]) for d in dropped] == [(3, 1)]


@pytest.mark.parametrize(
    ("rows", "field", "message"),
    [
        ([{"text": "a"}, {"txt": "b"}], "text", ":2: field `text`: required field is missing"),
        ([{"text": 5}], "text", ":1: field `text`: expected a string, got int"),
        ([{"messages": "hi"}], "messages", ":1: field `messages`: expected a list of messages"),
        ([{"messages": [{"content": "x"}]}], "messages", ":1: field `messages[0]`: expected an object"),
        (
            [{"messages": [{"role": "assistant", "content": "x"}]}],
            "messages",
            ":1: field `messages`: no message",
        ),
        (['{"text": "a"', {"text": "b"}], "text", ":1: invalid JSON"),
    ],
)
def test_dedup_bad_input_exits_2_naming_file_line_field(
    tmp_path: Path, rows: list[Any], field: str, message: str
) -> None:
    infile = write(tmp_path / "bad.jsonl", rows)
    result = invoke(["data", "dedup", str(infile), "--field", field, "--embedder", "hashing",
                     "--out", str(tmp_path / "o.jsonl")])  # fmt: skip
    assert result.exit_code == 2
    assert f"{infile}{message}" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_dedup_rejects_bad_options(tmp_path: Path) -> None:
    infile = write(tmp_path / "in.jsonl", [{"text": "a"}])
    for extra in (["--embedder", "faiss"], ["--threshold", "2"]):
        result = invoke(["data", "dedup", str(infile), "--out", str(tmp_path / "o.jsonl"), *extra])
        assert result.exit_code == 2


def test_row_text_content_parts_and_labels() -> None:
    row = {"messages": [{"role": "user", "content": [{"type": "text", "text": "part one"},
                                                     {"type": "text", "text": "part two"}]},
                        {"role": "assistant", "content": "answer"}]}  # fmt: skip
    assert row_text(row, "messages", frozenset({"user"}), file="f", line=1) == "part one\npart two"
    assert row_text(row, "messages", None, file="f", line=1, labels=True) == (
        "[user]\npart one\npart two\n\n[assistant]\nanswer"
    )
    bad = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}
    with pytest.raises(InputError, match="messages\\[0\\].content"):
        row_text(bad, "messages", None, file="f", line=7)
