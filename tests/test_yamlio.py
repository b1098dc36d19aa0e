"""Tests for YAML loading with line numbers and pydantic errors mapped to file, line and field."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from valuesfirst.errors import InputError, Problem
from valuesfirst.yamlio import field_path, load_model, load_yaml


def write(tmp_path: Path, text: str, name: str = "in.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    weight: int = 1


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    items: list[Item]
    tag: str | int | None = None


# --- errors.py --------------------------------------------------------------------------------------


def test_problem_str_omits_unknown_parts() -> None:
    assert str(Problem("a.yaml", 3, "values[0].why", "bad")) == "a.yaml:3: field `values[0].why`: bad"
    assert str(Problem("a.yaml", None, None, "bad")) == "a.yaml: bad"
    assert str(Problem(None, 4, None, "bad")) == "line 4: bad"
    assert str(Problem(None, None, "x", "bad")) == "field `x`: bad"


def test_input_error_lists_every_problem_and_pickles() -> None:
    err = InputError([Problem("f", 1, None, "one"), Problem("f", 2, "x", "two")])
    assert str(err) == "f:1: one\nf:2: field `x`: two"
    clone = pickle.loads(pickle.dumps(err))
    assert clone.problems == err.problems
    with pytest.raises(ValueError):
        InputError([])


def test_field_path_formats_indices_and_keys() -> None:
    assert field_path(("values", 1, "rules", 0)) == "values[1].rules[0]"
    assert field_path((0, "a")) == "[0].a"
    assert field_path(()) == ""


# --- load_yaml ------------------------------------------------------------------------------------


def test_lines_for_nested_keys_and_list_items(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # comment
        title: T
        values:
          - name: a
            why: because

          - name: b
            rules:
              - r0
              - r1
        """,
    )
    data, lines = load_yaml(path)
    assert data["values"][1]["rules"] == ["r0", "r1"]
    assert lines[()] == 2
    assert lines[("title",)] == 2
    assert lines[("values",)] == 3
    assert lines[("values", 0)] == 4
    assert lines[("values", 0, "name")] == 4
    assert lines[("values", 0, "why")] == 5
    assert lines[("values", 1)] == 7
    assert lines[("values", 1, "rules", 0)] == 9
    assert lines[("values", 1, "rules", 1)] == 10


def test_duplicate_keys_are_errors_with_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        title: T
        items:
          - label: a
            label: b
        title: again
        """,
    )
    with pytest.raises(InputError) as info:
        load_yaml(path)
    problems = info.value.problems
    assert [(p.line, p.field) for p in problems] == [(4, "items[0].label"), (5, "title")]
    assert "duplicate key `label`" in problems[0].message
    assert "line 3" in problems[0].message
    assert "line 1" in problems[1].message


def test_merge_key_override_is_not_a_duplicate(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        base: &base {label: a, weight: 2}
        item:
          <<: *base
          label: b
        """,
    )
    data, _ = load_yaml(path)
    assert data["item"] == {"label": "b", "weight": 2}


def test_syntax_error_reports_line(tmp_path: Path) -> None:
    path = write(tmp_path, "title: T\nitems:\n  - label: [unclosed\n  - label: b\nother: 1\n")
    with pytest.raises(InputError) as info:
        load_yaml(path)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    # PyYAML notices the unclosed bracket on the next line; the message names where the sequence began.
    assert problem.line == 4
    assert "YAML syntax error" in problem.message
    assert "started on line 3" in problem.message


def test_bad_indentation_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\n  c: 3\n")
    with pytest.raises(InputError) as info:
        load_yaml(path)
    assert info.value.problems[0].line == 3


def test_unsafe_tag_is_rejected_with_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(InputError) as info:
        load_yaml(path)
    assert info.value.problems[0].line == 2


def test_missing_file_directory_and_empty_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(InputError, match="nope.yaml: file not found"):
        load_yaml(missing)
    with pytest.raises(InputError, match="is a directory"):
        load_yaml(tmp_path)
    with pytest.raises(InputError, match="empty"):
        load_yaml(write(tmp_path, "  \n\n", name="empty.yaml"))
    with pytest.raises(InputError, match="no YAML content"):
        load_yaml(write(tmp_path, "# only a comment\n", name="comment.yaml"))


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(InputError) as info:
        load_yaml(path)
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (str(path), 2)
    assert "UTF-8" in problem.message


def test_multiple_documents_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\n---\nb: 2\n")
    with pytest.raises(InputError) as info:
        load_yaml(path)
    assert info.value.problems[0].line == 2


# --- load_model -----------------------------------------------------------------------------------


def test_load_model_valid(tmp_path: Path) -> None:
    path = write(tmp_path, "title: T\nitems:\n  - label: a\n    weight: 3\n")
    doc = load_model(path, Doc)
    assert doc == Doc(title="T", items=[Item(label="a", weight=3)])


def test_every_validation_problem_reported_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        title: T
        items:
          - label: ok
          - weight: two
          - label: c
            wieght: 3
        extra: 1
        """,
    )
    with pytest.raises(InputError) as info:
        load_model(path, Doc)
    got = {(p.field, p.line) for p in info.value.problems}
    assert got == {
        ("items[1].label", 4),  # missing: points at the item's line
        ("items[1].weight", 4),  # wrong type: exact line
        ("items[2].wieght", 6),  # unknown field: exact line
        ("extra", 7),
    }
    by_field = {p.field: p for p in info.value.problems}
    assert by_field["items[1].label"].message == "required field is missing"
    assert "'two'" in by_field["items[1].weight"].message
    assert "did you mean `weight`?" in by_field["items[2].wieght"].message
    assert all(p.file == str(path) for p in info.value.problems)
    assert [p.line for p in info.value.problems] == sorted(p.line or 0 for p in info.value.problems)


def test_missing_top_level_field_points_at_root(tmp_path: Path) -> None:
    path = write(tmp_path, "# header\n\ntitle: T\n")
    with pytest.raises(InputError) as info:
        load_model(path, Doc)
    (problem,) = info.value.problems
    assert (problem.field, problem.line) == ("items", 3)


def test_union_member_tags_are_dropped_from_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "title: T\nitems: []\ntag: [1]\n")
    with pytest.raises(InputError) as info:
        load_model(path, Doc)
    assert {p.field for p in info.value.problems} == {"tag"}
    assert {p.line for p in info.value.problems} == {3}


def test_root_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    with pytest.raises(InputError) as info:
        load_model(path, Doc)
    (problem,) = info.value.problems
    assert (problem.field, problem.line) == (None, 1)
