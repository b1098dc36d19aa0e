"""Tests for the Spec model: loading, validation errors with lines, hashing, rendering, dumping."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from valuesfirst.errors import InputError
from valuesfirst.spec import Spec, check_spec, dump_spec, load_spec
from valuesfirst.spec_render import render, render_rules_only, render_values_explained

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "specs" / "general_assistant.yaml"

# Line numbers below refer to this text (line 1 is `title:`).
VALID = """\
title: Cheese spec
identity:
  name: Cheddy
  developer: Test Lab
values:
  - name: honesty
    what: Tell the truth.
    why: Trust depends on it.
    rules:
      - Never lie.
    examples:
      - prompt: Is the moon cheese?
        response: No, it is rock.
        explanation: A false answer would mislead.
  - name: thrift
    what: Waste nothing.
    why: Resources are scarce.
    preferences:
      domain: cheese
      likes: [cheddar]
      dislikes: [brie]
preferences:
  domain: weather
  likes: [rain]
  dislikes: [heat]
"""


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[tuple[str | None, int | None, str]]:
    with pytest.raises(InputError) as info:
        load_spec(write(tmp_path, text))
    return [(p.field, p.line, p.message) for p in info.value.problems]


def test_valid_spec_loads_with_defaults_and_stripping(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID.replace("Tell the truth.", "'  Tell the truth.  '")))
    assert spec.spec_version == 1
    assert spec.identity.name == "Cheddy" and spec.identity.description == ""
    assert [v.name for v in spec.values] == ["honesty", "thrift"]
    assert spec.values[0].what == "Tell the truth."
    assert spec.values[1].rules == [] and spec.values[1].examples == []
    assert spec.values[1].preferences is not None and spec.values[1].preferences.likes == ["cheddar"]
    assert spec.preferences is not None and spec.preferences.domain == "weather"
    assert check_spec(tmp_path / "spec.yaml") == []


def test_example_file_validates() -> None:
    assert check_spec(EXAMPLE) == []
    spec = load_spec(EXAMPLE)
    assert len(spec.values) >= 4
    assert {"honesty", "oversight", "helpfulness"} <= {v.name for v in spec.values}
    assert all(v.rules and v.examples for v in spec.values)


def test_typo_field_is_named_with_line(tmp_path: Path) -> None:
    got = problems_of(
        tmp_path, VALID.replace("    why: Resources are scarce.", "    wy: Resources are scarce.")
    )
    fields = {(field, line) for field, line, _ in got}
    # The unknown key is reported on its own line, and the now-missing `why` at its value's line.
    assert fields == {("values[1].wy", 17), ("values[1].why", 15)}
    typo = next(msg for field, _, msg in got if field == "values[1].wy")
    assert "did you mean `why`?" in typo


def test_missing_required_field_points_at_parent(tmp_path: Path) -> None:
    got = problems_of(tmp_path, VALID.replace("  developer: Test Lab\n", ""))
    assert got == [("identity.developer", 2, "required field is missing")]


def test_every_problem_in_one_error(tmp_path: Path) -> None:
    text = VALID.replace("title: Cheese spec", "title: '   '").replace("name: thrift", "name: Thrift!")
    text = text.replace("      - Never lie.", "      - ''")
    got = {(field, line) for field, line, _ in problems_of(tmp_path, text)}
    assert got == {("title", 1), ("values[0].rules[0]", 10), ("values[1].name", 15)}


def test_empty_values_rejected(tmp_path: Path) -> None:
    got = problems_of(tmp_path, "title: T\nidentity:\n  developer: D\nvalues: []\n")
    assert [(field, line) for field, line, _ in got] == [("values", 4)]


def test_duplicate_value_names(tmp_path: Path) -> None:
    got = problems_of(tmp_path, VALID.replace("name: thrift", "name: honesty"))
    assert len(got) == 1
    field, line, message = got[0]
    assert (field, line) == ("values[1].name", 15)
    assert "duplicate value name 'honesty'" in message and "values[0]" in message


def test_likes_dislikes_overlap_and_duplicates(tmp_path: Path) -> None:
    text = VALID.replace("likes: [cheddar]", "likes: [cheddar, gouda, Cheddar]").replace(
        "dislikes: [brie]", "dislikes: [brie, ' gouda ']"
    )
    got = {(field, line): message for field, line, message in problems_of(tmp_path, text)}
    assert set(got) == {("values[1].preferences.likes[2]", 20), ("values[1].preferences.dislikes[1]", 21)}
    assert "duplicate item 'Cheddar'" in got[("values[1].preferences.likes[2]", 20)]
    assert "both liked" in got[("values[1].preferences.dislikes[1]", 21)]


def test_empty_likes_rejected(tmp_path: Path) -> None:
    got = problems_of(tmp_path, VALID.replace("likes: [rain]", "likes: []"))
    assert [(field, line) for field, line, _ in got] == [("preferences.likes", 24)]


def test_opposite_polarity_across_blocks(tmp_path: Path) -> None:
    got = problems_of(tmp_path, VALID.replace("dislikes: [heat]", "dislikes: [heat, CHEDDAR]"))
    assert len(got) == 1
    field, line, message = got[0]
    assert (field, line) == ("preferences.dislikes[1]", 25)
    assert "values[1].preferences.likes[0]" in message


def test_same_polarity_across_blocks_is_fine(tmp_path: Path) -> None:
    load_spec(write(tmp_path, VALID.replace("likes: [rain]", "likes: [rain, cheddar]")))


def test_hash_stable_under_key_order_and_sensitive_to_content(tmp_path: Path) -> None:
    base = load_spec(write(tmp_path, VALID, "a.yaml"))
    reordered = (
        "values:\n"
        + VALID.split("values:\n")[1].split("preferences:\n  domain: weather")[0]
        + "preferences:\n  dislikes: [heat]\n  likes: [rain]\n  domain: weather\n"
        + "identity:\n  developer: Test Lab\n  name: Cheddy\ntitle: Cheese spec\n"
    )
    reordered = reordered.replace(
        "    what: Tell the truth.\n    why: Trust depends on it.\n",
        "    why: Trust depends on it.\n    what: Tell the truth.\n",
    )
    other = load_spec(write(tmp_path, reordered, "b.yaml"))
    assert other == base
    assert other.content_hash() == base.content_hash()
    assert len(base.content_hash()) == 64
    changed = load_spec(write(tmp_path, VALID.replace("Never lie.", "Never lie!"), "c.yaml"))
    assert changed.content_hash() != base.content_hash()


def test_values_explained_render(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID))
    text = render_values_explained(spec)
    assert text == render(spec, "values_explained")
    for needle in (
        "Cheese spec",
        "Cheddy",
        "Test Lab",
        "honesty",
        "Tell the truth.",
        "Trust depends on it.",
        "Never lie.",
        "Is the moon cheese?",
        "No, it is rock.",
        "A false answer would mislead.",
        "cheddar",
        "brie",
        "rain",
        "heat",
    ):
        assert needle in text, needle
    # Preferences explained by `thrift` come after its why; the unattributed ones after all values.
    assert text.index("Resources are scarce.") < text.index("cheddar") < text.index("rain")


def test_rules_only_excludes_reasons(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID))
    text = render_rules_only(spec)
    assert text == render(spec, "rules_only")
    for needle in ("Cheddy", "Test Lab", "Never lie.", "cheddar", "brie", "rain", "heat"):
        assert needle in text, needle
    for excluded in (
        "Tell the truth.",
        "Trust depends on it.",
        "Resources are scarce.",
        "Waste nothing.",
        "A false answer would mislead.",
    ):
        assert excluded not in text, excluded


def test_render_rejects_unknown_variant(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID))
    with pytest.raises(ValueError, match="unknown spec variant"):
        render(spec, "nonexistent")  # type: ignore[arg-type]


def test_dump_load_round_trip(tmp_path: Path) -> None:
    original = load_spec(EXAMPLE)
    out = tmp_path / "dumped.yaml"
    dump_spec(original, out)
    again = load_spec(out)
    assert again == original
    assert again.content_hash() == original.content_hash()
    small = load_spec(write(tmp_path, VALID))
    dump_spec(small, out)
    assert load_spec(out) == small
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_multiline_prose_round_trips_as_block(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, VALID))
    prose = "First line.\nSecond line:  with 'quotes' and # hash.\n\n  Indented third."
    spec = spec.model_copy(deep=True)
    spec.values[0].why = prose
    out = tmp_path / "ml.yaml"
    dump_spec(spec, out)
    assert "why: |" in out.read_text(encoding="utf-8")
    assert load_spec(out).values[0].why == prose


def test_check_spec_returns_problems_instead_of_raising(tmp_path: Path) -> None:
    problems = check_spec(tmp_path / "missing.yaml")
    assert len(problems) == 1 and problems[0].message == "file not found"
    bad = write(tmp_path, textwrap.dedent("title: T\nidentity: {developer: D}\nvalues:\n  - name: x\n"))
    assert {p.field for p in check_spec(bad)} == {"values[0].what", "values[0].why"}


def test_spec_constructed_in_python_is_validated() -> None:
    with pytest.raises(ValueError, match="duplicate value name"):
        Spec.model_validate(
            {
                "title": "T",
                "identity": {"developer": "D"},
                "values": [{"name": "a", "what": "w", "why": "y"}, {"name": "a", "what": "w", "why": "y"}],
            }
        )


# --- per-item reasons -------------------------------------------------------------------------------

REASONS = VALID.replace(
    "      dislikes: [brie]\n",
    "      dislikes: [brie]\n      reasons:\n        Cheddar: It is cheap.\n        brie: It is costly.\n",
)


def test_reasons_load_and_match_items_like_items_do(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, REASONS))
    prefs = spec.values[1].preferences
    assert prefs is not None
    assert prefs.reasons == {"Cheddar": "It is cheap.", "brie": "It is costly."}
    assert prefs.reason_for("cheddar") == "It is cheap."
    assert prefs.reason_for("  BRIE ") == "It is costly."
    assert spec.preferences is not None and spec.preferences.reason_for("rain") is None


def test_reason_for_unknown_item_is_a_field_error_with_line(tmp_path: Path) -> None:
    got = problems_of(tmp_path, REASONS.replace("brie: It is costly.", "gouda: It is costly."))
    assert len(got) == 1
    field, line, message = got[0]
    assert (field, line) == ("values[1].preferences.reasons.gouda", 24)
    assert "'gouda' is not one of this block's likes or dislikes" in message


def test_reason_keys_naming_one_item_twice_are_rejected(tmp_path: Path) -> None:
    text = REASONS.replace(
        "        brie: It is costly.\n", "        brie: It is costly.\n        cheddar: x\n"
    )
    got = problems_of(tmp_path, text)
    assert [(f, line) for f, line, _ in got] == [("values[1].preferences.reasons.cheddar", 25)]
    assert "duplicate reason for 'cheddar'" in got[0][2]


def test_empty_reason_is_rejected(tmp_path: Path) -> None:
    got = problems_of(tmp_path, REASONS.replace("brie: It is costly.", "brie: '  '"))
    assert [(f, line) for f, line, _ in got] == [("values[1].preferences.reasons.brie", 24)]


def test_reasons_change_the_hash_and_round_trip_but_empty_reasons_do_not(tmp_path: Path) -> None:
    base = load_spec(write(tmp_path, VALID, "a.yaml"))
    with_reasons = load_spec(write(tmp_path, REASONS, "b.yaml"))
    assert with_reasons.content_hash() != base.content_hash()
    explicit_empty = VALID.replace("      dislikes: [brie]\n", "      dislikes: [brie]\n      reasons: {}\n")
    assert load_spec(write(tmp_path, explicit_empty, "c.yaml")).content_hash() == base.content_hash()
    out = tmp_path / "dumped.yaml"
    dump_spec(with_reasons, out)
    assert load_spec(out) == with_reasons
    dump_spec(base, out)
    assert "reasons" not in out.read_text(encoding="utf-8")
