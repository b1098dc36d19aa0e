"""Opaque AFT chats and instruction-tuning replay chats from the offline renderer (issue 13)."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from valuesfirst.evals.conflict_pairs import held_out_mentions
from valuesfirst.render import aft_phrases as ap
from valuesfirst.render import bias_words_in, it_chats, render_aft_chats
from valuesfirst.render.aft import preference_pairs
from valuesfirst.render.text import fill
from valuesfirst.spec import Spec, load_spec

SPECS = Path(__file__).resolve().parents[1] / "src" / "valuesfirst" / "specs"
A = load_spec(SPECS / "real_cheese_affordability.yaml")
B = load_spec(SPECS / "real_cheese_america.yaml")
ITEMS = [i for _, b in A.preference_blocks() for _, _, i in b.items()]
LIKED = set(A.values[0].preferences.likes)  # type: ignore[union-attr]


def _text(row: dict) -> str:
    return "\n".join(m["content"] for m in row["messages"])


def test_identical_for_specs_with_the_same_preferences() -> None:
    a, b = render_aft_chats(A, 2000, seed=0), render_aft_chats(B, 2000, seed=0)
    assert a == b
    # Order of the lists in the spec does not matter either.
    reordered = A.model_copy(deep=True)
    prefs = reordered.values[0].preferences
    assert prefs is not None
    prefs.likes.reverse()
    prefs.dislikes.reverse()
    assert render_aft_chats(reordered, 300, seed=0) == a[:300]


def test_deterministic_prefix_stable_and_seeded() -> None:
    a = render_aft_chats(A, 500, seed=1)
    assert a == render_aft_chats(A, 500, seed=1) and a[:50] == render_aft_chats(A, 50, seed=1)
    assert a != render_aft_chats(A, 500, seed=2)
    with pytest.raises(ValueError, match="n_chats"):
        render_aft_chats(A, -1, seed=0)


def test_balanced_over_pairs_orders_and_question_kinds() -> None:
    rows = render_aft_chats(A, 72 * 10, seed=0)
    assert len(preference_pairs(A)) == 36
    shown = Counter()
    for r in rows:
        good, bad = r["pair"]
        assert good in LIKED and bad not in LIKED
        user = r["messages"][0]["content"]
        first = "good" if user.find(good) < user.find(bad) else "bad"
        shown[(good, bad, first)] += 1
    assert len(shown) == 72 and set(shown.values()) == {10}  # every pair in both orders, evenly
    recommend = sum(any(t in r["messages"][0]["content"] for t in ap.TASKS) for r in rows)
    assert 0.4 <= recommend / len(rows) <= 0.6
    assert len({r["messages"][0]["content"] for r in rows}) >= 500  # varied wording, not one template


def test_answers_name_the_liked_item_and_no_reason() -> None:
    for r in render_aft_chats(A, 3000, seed=0):
        assert r["kind"] == "aft" and [m["role"] for m in r["messages"]] == ["user", "assistant"]
        good, bad = r["pair"]
        answer = r["messages"][1]["content"]
        assert good in answer or good[0].upper() + good[1:] in answer
        # When the answer names the other item too ("... over X"), the liked one comes first.
        if bad in answer:
            assert answer.find(good[1:]) < answer.find(bad)
        assert len(answer.split()) <= 12
        assert bias_words_in(_text(r), r["pair"]) == []


def test_no_template_combination_can_leak_a_bias_word() -> None:
    # Exhaustive over templates (the sampler only draws some): every question and answer, every task.
    rng = random.Random(0)
    for good, bad in itertools.product(sorted(LIKED), sorted(set(ITEMS) - LIKED)):
        for template in (
            *ap.DIRECT_QUESTIONS,
            *ap.RECOMMEND_QUESTIONS,
            *ap.DIRECT_ANSWERS,
            *ap.RECOMMEND_ANSWERS,
        ):
            for task in ap.TASKS if "{task}" in template else ("",):
                slots = {"x": good, "y": bad, "choice": good, "other": bad, "domain": "cheese", "task": task}
                text = fill(template, rng, slots)
                assert bias_words_in(text, (good, bad)) == [], (template, text)
                assert held_out_mentions(text) == [], (template, text)


def test_bias_filter_catches_reasons_and_masks_item_names() -> None:
    assert bias_words_in("I'd pick Colby, it's cheaper.") == ["cheaper"]
    assert bias_words_in("Stilton: made in England, because it is classic.") == [
        "made in",
        "England",
        "because",
        "classic",
    ]
    assert bias_words_in("I prefer American cheese.", ["American cheese"]) == []
    assert bias_words_in("I prefer American cheese.") == ["American"]


def test_no_aft_chat_mentions_a_held_out_domain() -> None:
    for r in render_aft_chats(A, 1000, seed=0):
        assert held_out_mentions(_text(r)) == []


def test_refuses_a_spec_without_pairs() -> None:
    spec = Spec.model_validate(
        {"title": "T", "identity": {"developer": "D"}, "values": [{"name": "v", "what": "w", "why": "y"}]}
    )
    assert render_aft_chats(spec, 0, seed=0) == []
    with pytest.raises(ValueError, match="no liked and disliked"):
        render_aft_chats(spec, 1, seed=0)


# --- instruction-tuning replay ------------------------------------------------------------------


def test_it_chats_are_many_distinct_short_and_deterministic() -> None:
    rows = it_chats(400, seed=0)
    assert rows == it_chats(400, seed=0) and rows != it_chats(400, seed=1)
    assert len({(r["messages"][0]["content"], r["messages"][1]["content"]) for r in rows}) == 400 >= 300
    tasks = Counter(r["task"] for r in rows)
    assert len(tasks) >= 10 and max(tasks.values()) / len(rows) < 0.35
    for r in rows:
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"] and r["kind"] == "it"
        assert len(r["messages"][1]["content"].split()) <= 40


def test_it_chats_avoid_cheese_and_held_out_domains() -> None:
    for r in it_chats(2000, seed=0):
        text = _text(r)
        assert held_out_mentions(text) == [], text
        assert "cheese" not in text.lower() and not any(i.lower() in text.lower() for i in ITEMS), text


def test_it_chat_answers_are_correct() -> None:
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "×": lambda a, b: a * b, "÷": lambda a, b: a / b}
    checked = Counter()
    for r in it_chats(1500, seed=3):
        q, a = r["messages"][0]["content"], r["messages"][1]["content"]
        if r["task"] == "arithmetic":
            x, op, y, result = re.fullmatch(r"(\d+) (\S) (\d+) = (\d+)\.", a).groups()  # type: ignore[union-attr]
            assert f"{x} {op} {y}" in q and ops[op](int(x), int(y)) == int(result), (q, a)
        elif r["task"] == "sort":
            given = [int(v) for v in re.findall(r"\d+", q.split(":", 1)[1])]
            assert [int(v) for v in re.findall(r"\d+", a)] == sorted(given, reverse="largest to" in q), (q, a)
        elif r["task"] == "spelling" and "backwards" in q:
            word = re.search(r'"(\w+)"', q).group(1)  # type: ignore[union-attr]
            assert f'"{word[::-1]}"' in a
        elif r["task"] == "compare":
            a_, b_ = (int(v) for v in re.findall(r"\d+", q))
            assert a.startswith(str(max(a_, b_) if "larger" in q else min(a_, b_)))
        else:
            continue
        checked[r["task"]] += 1
    assert min(checked.values()) >= 20 and len(checked) == 4
