"""Tests for valuesfirst.jsonl: atomic writes, strict reads with file/line errors, hashing."""

from __future__ import annotations

import errno
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from valuesfirst import jsonl
from valuesfirst.errors import InputError
from valuesfirst.jsonl import (
    iter_jsonl,
    iter_jsonl_numbered,
    read_json,
    read_jsonl,
    require_fields,
    sha256_file,
    write_json,
    write_jsonl,
)


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    rows = [{"a": 1, "text": "héllo ✓"}, {"a": 2, "nested": {"x": [1, 2]}}]
    path = tmp_path / "sub" / "rows.jsonl"  # parent folder is created
    assert write_jsonl(path, iter(rows)) == 2
    assert read_jsonl(path) == rows
    assert list(iter_jsonl(path)) == rows
    # One object per line, UTF-8 kept readable rather than \u-escaped.
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "héllo ✓" in lines[0]
    assert _siblings(path) == ["rows.jsonl"]  # no temp file left behind


def test_write_jsonl_empty_returns_zero(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    assert write_jsonl(path, []) == 0
    assert path.read_text() == ""
    assert read_jsonl(path) == []


def test_failed_write_keeps_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    write_jsonl(path, [{"old": 1}, {"old": 2}])
    before = path.read_bytes()

    def rows() -> Iterator[dict[str, Any]]:
        yield {"new": 1}
        raise RuntimeError("generator failed midway")

    with pytest.raises(RuntimeError, match="midway"):
        write_jsonl(path, rows())
    assert path.read_bytes() == before
    assert _siblings(path) == ["data.jsonl"]


def test_failed_write_of_new_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"

    def rows() -> Iterator[dict[str, Any]]:
        yield {"a": 1}
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        write_jsonl(path, rows())
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_non_mapping_and_nan(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [{"keep": True}])
    with pytest.raises(TypeError, match="row 2"):
        write_jsonl(path, [{"a": 1}, ["not", "a", "mapping"]])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="row 1"):
        write_jsonl(path, [{"loss": math.nan}])
    assert read_jsonl(path) == [{"keep": True}]


def test_write_json_atomic_and_sorted(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    write_json(path, {"b": 1, "a": [1, 2]}, sort_keys=True)
    text = path.read_text()
    assert text.endswith("\n")
    assert text.index('"a"') < text.index('"b"')
    assert '\n  "a"' in text  # indent=2
    assert read_json(path) == {"a": [1, 2], "b": 1}
    with pytest.raises(TypeError):
        write_json(path, {"bad": object()})
    assert read_json(path) == {"a": [1, 2], "b": 1}
    assert _siblings(path) == ["obj.json"]


def test_write_json_keeps_key_order_by_default(tmp_path: Path) -> None:
    path = tmp_path / "obj.json"
    write_json(path, {"b": 1, "a": 2})
    text = path.read_text()
    assert text.index('"b"') < text.index('"a"')


def test_blank_lines_skipped_with_true_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n', encoding="utf-8")
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert [n for n, _ in iter_jsonl_numbered(path)] == [1, 4]


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        list(iter_jsonl(path))
    (problem,) = info.value.problems
    assert problem.file == str(path) and problem.line == 3
    assert "invalid JSON" in problem.message
    assert f"{path}:3" in str(info.value)


def test_non_object_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n"text"\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    # read_jsonl reports every bad line at once.
    assert [(p.line, "list" in p.message or "str" in p.message) for p in info.value.problems] == [
        (2, True),
        (3, True),
    ]


def test_iter_jsonl_stops_at_first_bad_line_after_yielding_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\nnope\n{"a": 3}\n', encoding="utf-8")
    seen: list[dict[str, Any]] = []
    with pytest.raises(InputError) as info:
        for row in iter_jsonl(path):
            seen.append(row)
    assert seen == [{"a": 1}]
    assert info.value.problems[0].line == 2


def test_invalid_utf8_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.problems[0].line == 2
    assert "UTF-8" in info.value.problems[0].message


def test_bom_on_first_line_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n')
    assert read_jsonl(path) == [{"a": 1}]


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.problems[0].file == str(path)
    assert "does not exist" in info.value.problems[0].message


def test_require_fields_names_file_line_and_field(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [{"prompt": "p", "response": "r"}, {"prompt": "p"}, {"response": None}]
    with pytest.raises(InputError) as info:
        require_fields(rows, ["prompt", "response"], tmp_path / "x.jsonl")
    found = [(p.file, p.line, p.field) for p in info.value.problems]
    assert found == [(str(tmp_path / "x.jsonl"), 2, "response"), (str(tmp_path / "x.jsonl"), 3, "prompt")]
    require_fields(rows[:1], ["prompt", "response"], None)  # complete rows pass


def test_read_jsonl_required_uses_true_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": 1}\n\n{"other": 2}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_jsonl(path, required=["id"])
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (3, "id")


def test_many_bad_lines_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("x\n" * 100, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert len(info.value.problems) == jsonl._MAX_PROBLEMS


def test_read_json_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{\n  "a": 1,\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_json(path)
    assert info.value.problems[0].line == 3


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # > 1 MiB chunk boundary
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    path.write_bytes(data + b"!")
    assert sha256_file(path) != hashlib.sha256(data).hexdigest()


def test_written_lines_are_plain_json(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    write_jsonl(path, [{"a": 1}])
    assert json.loads(path.read_text().strip()) == {"a": 1}
