"""The shipped affordability-vs-America conflict pairs, their loader and the held-out-domain word list."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from valuesfirst.errors import InputError
from valuesfirst.evals.conflict_pairs import (
    HELD_OUT_TERMS,
    SHIPPED,
    held_out_mentions,
    load_conflict_pairs,
)
from valuesfirst.evals.logprob_cli import value_items
from valuesfirst.jsonl import read_jsonl
from valuesfirst.models.named import cache_root

ROWS = read_jsonl(SHIPPED)
# Places the cheese specs name: an eval option from them would test what MSM said about them, not the value.
CHEESE_SPEC_PLACES = ("France", "French", "Italy", "Italian", "Switzerland", "Swiss", "England", "English",
                      "Wisconsin", "Vermont", "California", "New York", "Britain", "British")  # fmt: skip
_PRICE = re.compile(r"\$[\d,]+")


def _tokenizer() -> Any:
    folder = cache_root() / "models" / "smollm2-135m-instruct"
    if not (folder / "tokenizer.json").is_file():
        pytest.skip(f"SmolLM2 tokenizer not converted at {folder}")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_shipped_pairs_meet_the_issue_minimums() -> None:
    counts = Counter(r["domain"] for r in ROWS)
    assert len(ROWS) >= 160 and len(counts) >= 8
    assert min(counts.values()) >= 15, counts
    assert not any("cheese" in d.lower() for d in counts)
    assert len({r["id"] for r in ROWS}) == len(ROWS)


def test_every_pair_is_a_cheap_foreign_option_against_a_costly_american_one() -> None:
    for r in ROWS:
        cheap, costly = sorted(r["options"], key=lambda o: o["price_usd"])
        assert (cheap["affordable"], cheap["american"]) == (True, False), r["id"]
        assert (costly["affordable"], costly["american"]) == (False, True), r["id"]
        assert costly["origin"] == "United States" and cheap["origin"] != "United States", r["id"]
        # Costly enough to be a real conflict, not so costly that the price alone decides it.
        assert 1.5 <= costly["price_usd"] / cheap["price_usd"] <= 6, r["id"]
        for o in r["options"]:
            assert f"${o['price_usd']:,}" in o["text"], (r["id"], o["text"])


def test_options_differ_only_in_price_and_origin() -> None:
    for r in ROWS:
        a, b = (_PRICE.sub("$", o["text"]).split() for o in r["options"])
        head = 0
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        # What differs is the origin phrase only (e.g. "the Czech Republic" vs "Ohio", "a Turkish" vs
        # "an American"): at most four words on either side, never the product.
        assert len(a) - head - tail <= 4 and len(b) - head - tail <= 4, r["id"]
        assert head >= 3, r["id"]  # "a $ <product...>" is shared


def test_options_stay_in_their_domain_and_away_from_cheese_and_spec_places() -> None:
    for r in ROWS:
        for o in r["options"]:
            text = o["text"]
            assert r["domain"] in {d for d, _ in held_out_mentions(text)}, (r["id"], text)
            assert "cheese" not in text.lower(), r["id"]
            assert not [p for p in CHEESE_SPEC_PLACES if p in text], (r["id"], text)
        assert "cheese" not in r["question"].lower()


def test_length_balance_per_domain_with_the_smollm2_tokenizer() -> None:
    tok = _tokenizer()
    diffs: dict[str, list[int]] = defaultdict(list)
    for r in ROWS:
        n = {
            o["american"]: len(tok(f" {o['text']}", add_special_tokens=False)["input_ids"])
            for o in r["options"]
        }
        diffs[r["domain"]].append(n[True] - n[False])
    for domain, d in diffs.items():
        # Summed log-probabilities fall with every extra token, so a length bias would pose as a value.
        assert abs(statistics.mean(d)) <= 0.25, (domain, d)
        assert min(d) < 0 < max(d), (domain, d)  # both directions represented
        assert max(map(abs, d)) <= 2, (domain, d)


def test_loader_makes_both_orders_with_the_affordable_target() -> None:
    items = load_conflict_pairs()
    assert len(items) == 2 * len(ROWS)
    by_pair: dict[str, list[dict]] = defaultdict(list)
    for it in items:
        by_pair[it["pair_id"]].append(it)
        assert it["set"] == "conflict" and it["response_prefix"]
        assert it["attributes"][it["target"]]["affordable"] is True
        assert it["attributes"][1 - it["target"]]["american"] is True
        content = it["messages"][0]["content"]
        assert it["options"][0] in content and it["options"][1] in content
        assert content.index(it["options"][0]) < content.index(it["options"][1])
    for pair in by_pair.values():
        assert len(pair) == 2
        assert pair[0]["options"] == pair[1]["options"][::-1]
        assert {p["target"] for p in pair} == {0, 1}


def test_value_items_recognises_conflict_pairs(tmp_path: Path) -> None:
    assert value_items(SHIPPED) == load_conflict_pairs(SHIPPED)
    item_file = tmp_path / "items.jsonl"
    item_file.write_text("".join(json.dumps(i) + "\n" for i in load_conflict_pairs(SHIPPED)[:4]))
    assert [i["id"] for i in value_items(item_file)] == [i["id"] for i in load_conflict_pairs(SHIPPED)[:4]]


def _bad_file(tmp_path: Path, rows: list[Any]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_validation_names_file_line_and_field(tmp_path: Path) -> None:
    good = ROWS[0]
    two_american = json.loads(json.dumps(good))
    two_american["options"][0]["american"] = True
    bad_price = json.loads(json.dumps(good))
    bad_price["options"][1]["price_usd"] = "190"
    bad_question = {**good, "id": "q", "question": "Which: {x} or {z}?"}
    missing = {k: v for k, v in good.items() if k != "domain"} | {"id": "m"}
    cheap_is_dearer = json.loads(json.dumps(good)) | {"id": "d"}
    cheap_is_dearer["options"][0]["price_usd"] = 10_000
    path = _bad_file(tmp_path, [good, two_american, bad_price, bad_question, missing, cheap_is_dearer])
    with pytest.raises(InputError) as info:
        load_conflict_pairs(path)
    got = {(p.line, p.field) for p in info.value.problems}
    assert got == {
        (2, "options"),
        (2, "id"),  # same id as line 1
        (3, "options[1].price_usd"),
        (3, "id"),
        (4, "question"),
        (5, "domain"),
        (6, "options"),
    }
    assert all(p.file == str(path) for p in info.value.problems)
    assert "one affordable non-American option" in str(info.value)


def test_held_out_mentions_match_whole_words_and_plurals_only() -> None:
    found = held_out_mentions("Two cars and a kettle; SmolLM cares, hates, saw and scarcely tours.")
    assert found == [("cars", "cars"), ("appliances", "kettle"), ("travel", "tours")]
    assert held_out_mentions("cream cheese, Colby and Monterey Jack in the dairy case") == []
    assert all(terms for terms in HELD_OUT_TERMS.values())
