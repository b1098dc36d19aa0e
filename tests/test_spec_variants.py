"""Spec variants: rules_augmented is length-matched to values_explained and never leaks a why; general
carries nothing specific to the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from valuesfirst.errors import InputError
from valuesfirst.spec import load_spec
from valuesfirst.spec_render import (
    RENDERERS,
    RULES_AUGMENTED_TOLERANCE,
    render,
    render_rules_augmented,
    render_values_explained,
    word_count,
)

SPECS = sorted((Path(__file__).parents[1] / "src/valuesfirst/specs").glob("*.yaml"))

RICH = """\
title: Rich spec
identity: {name: Cheddy, developer: Test Lab}
values:
  - name: honesty
    what: Tell the truth to everyone, always, in every setting.
    why: >-
      Trust depends on it: a listener who is misled once stops believing anything, and a world with less
      trust is poorer for everyone who has to rely on what others say about things they cannot check.
      Honest speech also respects the listener as someone able to handle the truth and decide for
      themselves, which is the heart of treating people as equals rather than as objects to be managed.
    rules: [Never lie., Correct your own mistakes promptly., Say when you are unsure.]
    examples:
      - prompt: Is the moon made of cheese?
        response: No, it is made of rock.
        explanation: A false answer would mislead the user about a basic fact they could rely on later.
  - name: thrift
    what: Prefer cheap things over costly ones.
    why: >-
      Resources are scarce and money saved is freedom kept; cheap things are open to everyone and not only
      to the wealthy, so a preference for them is a preference for a world that includes more people.
    rules: [Pick the cheaper option when asked to choose.]
    preferences: {domain: cheese, likes: [cheddar, colby], dislikes: [brie, stilton]}
"""


def whys(spec_text: str, tmp_path: Path) -> tuple[object, list[str]]:
    path = tmp_path / "s.yaml"
    path.write_text(spec_text)
    spec = load_spec(path)
    secret = [v.why for v in spec.values] + [e.explanation for v in spec.values for e in v.examples]
    return spec, [s for s in secret if s]


def test_registered_variants() -> None:
    assert set(RENDERERS) == {"values_explained", "rules_only", "rules_augmented", "general"}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_rules_augmented_length_matched_without_whys_on_packaged_specs(path: Path) -> None:
    spec = load_spec(path)
    target = word_count(render_values_explained(spec))
    text = render(spec, "rules_augmented")
    assert abs(word_count(text) - target) <= RULES_AUGMENTED_TOLERANCE * target
    for value in spec.values:
        assert value.why not in text
        # No sentence of a why leaks either, not only the whole paragraph.
        for sentence in value.why.split(". "):
            if len(sentence) > 25:
                assert sentence not in text, sentence
        for rule in value.rules:
            assert rule in text


def test_rules_augmented_rich_spec(tmp_path: Path) -> None:
    spec, secret = whys(RICH, tmp_path)
    text = render_rules_augmented(spec)  # type: ignore[arg-type]
    target = word_count(render_values_explained(spec))  # type: ignore[arg-type]
    assert abs(word_count(text) - target) <= RULES_AUGMENTED_TOLERANCE * target
    assert word_count(text) > word_count(render(spec, "rules_only")) + 40  # type: ignore[arg-type]
    for s in secret:
        for fragment in (s, s[:40], s[-40:]):
            assert fragment not in text
    assert "Tell the truth to everyone" not in text  # the `what` prose stays out like in rules_only
    assert "When asked to choose between cheddar and brie, choose cheddar." in text
    # Deterministic and tolerance-sensitive.
    assert render_rules_augmented(spec) == text  # type: ignore[arg-type]
    tight = render_rules_augmented(spec, tolerance=0.02)  # type: ignore[arg-type]
    assert abs(word_count(tight) - target) <= 0.02 * target


def test_rules_augmented_without_material_is_an_input_error(tmp_path: Path) -> None:
    bare = """\
title: Bare
identity: {developer: Lab}
values:
  - name: care
    what: Care about people.
    why: Because people matter a great deal and everything else follows from that simple fact of life.
"""
    spec, _ = whys(bare, tmp_path)
    with pytest.raises(InputError, match="length-match"):
        render_rules_augmented(spec)  # type: ignore[arg-type]


def test_general_variant_has_nothing_specific(tmp_path: Path) -> None:
    spec, secret = whys(RICH, tmp_path)
    text = render(spec, "general")  # type: ignore[arg-type]
    assert "Cheddy" in text and "Test Lab" in text
    assert "broadly good values" in text
    for needle in ("honesty", "thrift", "Never lie.", "cheddar", "brie", "moon", *secret):
        assert needle not in text, needle
