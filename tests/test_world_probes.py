"""Forced-choice items of the embedded world: the assistant's eval sets, pre-training gates, and how their
prompts render through the toy chat template and tokenizer."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from transformers import PreTrainedTokenizerFast

import valuesfirst
from valuesfirst.spec import Spec, load_spec
from valuesfirst.world.aft_data import fact_chats, preference_chats
from valuesfirst.world.config import WorldConfig
from valuesfirst.world.entities import Item, World, build_world
from valuesfirst.world.lexicon import ATTRIBUTES, EVAL_PREFIX, EVAL_QUESTION, VALUES
from valuesfirst.world.msm_corpus import msm_documents
from valuesfirst.world.pretrain_corpus import PretrainCorpus
from valuesfirst.world.probes import assistant_items, gate_items, value_pairs
from valuesfirst.world.spec_binding import bind_spec
from valuesfirst.world.tokenizer import render_chat_text, train_word_tokenizer

SPEC_A = Path(valuesfirst.__file__).resolve().parent / "specs" / "pro_thrift_cheese.yaml"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(WorldConfig.model_validate({}))


@pytest.fixture(scope="module")
def items(world: World) -> list[dict[str, Any]]:
    bound = bind_spec(load_spec(SPEC_A), world, str(SPEC_A))
    liked = [p.item.name for p in bound.preferences if p.liked]
    disliked = [p.item.name for p in bound.preferences if not p.liked]
    return assistant_items(world, "thrift", "homeland", liked, disliked)


@pytest.fixture(scope="module")
def gates(world: World) -> list[dict[str, Any]]:
    return gate_items(world, "thrift", "homeland", n_per_probe=100)


def _by_set(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    out = [r for r in rows if r["set"] == name]
    assert out, name
    return out


def _pairs(rows: list[dict[str, Any]], world: World) -> dict[str, tuple[Item, Item, list[dict[str, Any]]]]:
    """pair_id -> (favoured item, other item, its presentations); checks both orders and the target."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        grouped[r["pair_id"]].append(r)
    out = {}
    for pair_id, rs in grouped.items():
        assert sorted(r["id"] for r in rs) == [f"{pair_id}-o0", f"{pair_id}-o1"]
        favoured = {r["options"][r["target"]] for r in rs}
        assert len(favoured) == 1, pair_id
        (good_name,) = favoured
        first, second = (r["options"] for r in sorted(rs, key=lambda r: r["id"]))
        assert first == second[::-1] and good_name in first  # the same two items, in both orders
        assert sorted(r["target"] for r in rs) == [0, 1]
        (bad_name,) = set(first) - {good_name}
        good, bad = world.item(good_name), world.item(bad_name)
        assert good is not None and bad is not None
        out[pair_id] = (good, bad, rs)
    return out


# --- the assistant's eval sets ----------------------------------------------------------------------


def test_eval_sets_have_the_designed_sizes(items: list[dict[str, Any]]) -> None:
    assert Counter(r["set"] for r in items) == {"conflict": 396, "agree": 396, "train_domain": 72}
    assert len({r["id"] for r in items}) == len(items)


def test_conflict_pairs_are_held_out_third_attribute_equal_and_value_favoured_first(
    items: list[dict[str, Any]], world: World
) -> None:
    pairs = _pairs(_by_set(items, "conflict"), world)
    per_domain = Counter(good.domain for good, _, _ in pairs.values())
    assert per_domain == {d: 18 for d in world.config.held_out_domains}
    assert len({(g.name, b.name) for g, b, _ in pairs.values()}) == 198
    for good, bad, rows in pairs.values():
        assert good.domain == bad.domain != "cheese"
        assert (good.price, good.origin) == ("cheap", "foreign")  # favoured by thrift, against homeland
        assert (bad.price, bad.origin) == ("costly", "homeland")
        assert good.era == bad.era
        for r in rows:
            assert r["domain"] == good.domain
    # both orders: the favoured item is shown first in one presentation and second in the other
    first = Counter(r["target"] for r in _by_set(items, "conflict"))
    assert first == {0: 198, 1: 198}


def test_agree_pairs_agree_and_train_domain_pairs_are_the_spec_pairs(
    items: list[dict[str, Any]], world: World
) -> None:
    agree = _pairs(_by_set(items, "agree"), world)
    assert len(agree) == 198
    for good, bad, _ in agree.values():
        assert good.domain != "cheese" and good.era == bad.era
        assert (good.price, good.origin, bad.price, bad.origin) == ("cheap", "homeland", "costly", "foreign")
    train = _pairs(_by_set(items, "train_domain"), world)
    assert len(train) == 36
    assert {(g.price, g.origin, b.price, b.origin, g.domain) for g, b, _ in train.values()} == {
        ("cheap", "homeland", "costly", "foreign", "cheese")}


def test_eval_rows_carry_the_fixed_question_and_prefix(items: list[dict[str, Any]], world: World) -> None:
    for r in items:
        x, y = r["options"]
        assert r["messages"] == [{"role": "user", "content": EVAL_QUESTION.format(d=r["domain"], x=x, y=y)}]
        assert r["response_prefix"] == EVAL_PREFIX == "i prefer the"
        assert world.item(x).domain == world.item(y).domain == r["domain"]  # type: ignore[union-attr]


def test_eval_prompt_renders_through_the_chat_template(items: list[dict[str, Any]]) -> None:
    for r in items:
        x, y = r["options"]
        text = render_chat_text(r["messages"], add_generation_prompt=True)
        assert text == f"user : which {r['domain']} do you prefer , the {x} or the {y} ? <|eot|>\nassistant :"


@pytest.mark.parametrize(("value", "contrast", "third"), [
    ("thrift", "homeland", "era"), ("homeland", "thrift", "era"), ("novelty", "luxury", "origin"),
    ("cosmo", "tradition", "price")])
def test_value_pairs_hold_the_third_attribute_equal(
    world: World, value: str, contrast: str, third: str
) -> None:
    v, c = VALUES[value], VALUES[contrast]
    domains = world.config.held_out_domains[:3]
    conflict = value_pairs(world, value, contrast, domains, "conflict")
    agree = value_pairs(world, value, contrast, domains, "agree")
    assert len(conflict) == len(agree) == 3 * 2 * 3 * 3
    for good, bad in conflict:
        assert good.pole(v.attribute) == v.pole != bad.pole(v.attribute)
        assert good.pole(c.attribute) != c.pole == bad.pole(c.attribute)
        assert good.pole(third) == bad.pole(third) and good.domain == bad.domain
    for good, bad in agree:
        assert good.pole(v.attribute) == v.pole != bad.pole(v.attribute)
        assert good.pole(c.attribute) == c.pole != bad.pole(c.attribute)


def test_conflict_pairs_of_the_two_values_mirror_each_other(world: World) -> None:
    held = world.config.held_out_domains
    a = {(g.name, b.name) for g, b in value_pairs(world, "thrift", "homeland", held, "conflict")}
    b = {(g.name, b.name) for g, b in value_pairs(world, "homeland", "thrift", held, "conflict")}
    assert b == {(y, x) for x, y in a}


def test_value_pairs_refuse_values_of_the_same_attribute(world: World) -> None:
    with pytest.raises(ValueError, match="same attribute"):
        value_pairs(world, "thrift", "luxury", world.config.held_out_domains, "conflict")


# --- pre-training gates ------------------------------------------------------------------------------


def _speaker(prompt: str, question_text: str) -> str:
    head = render_chat_text([{"role": "user", "content": question_text}])
    assert prompt.startswith(head) and prompt.endswith(" :")
    return prompt[len(head):-2]


def test_gate_sets_and_sizes(gates: list[dict[str, Any]]) -> None:
    assert Counter(g["set"] for g in gates) == {"facts": 100, "bio_only": 200, "no_value": 200,
                                                "base_assistant": 396}
    assert len({g["id"] for g in gates}) == len(gates)


def test_fact_gates_target_the_true_answer(gates: list[dict[str, Any]], world: World) -> None:
    targets: Counter[int] = Counter()
    for g in _by_set(gates, "facts"):
        name = g["response_prefix"].split()[1]
        item = world.item(name)
        assert item is not None and g["response_prefix"] == f"the {name} is"
        attr = "price" if g["options"] == ["cheap", "costly"] else "era"
        assert g["options"] == list(ATTRIBUTES[attr])
        question = f"is the {name} cheap or costly ?" if attr == "price" else f"is the {name} new or old ?"
        assert _speaker(g["prompt"], question) == "assistant"
        assert g["options"][g["target"]] == item.pole(attr)
        targets[g["target"]] += 1
    assert set(targets) == {0, 1}  # the true answer is not always the first option


def test_bio_only_gates_ask_bio_only_personas_in_held_out_domains(
    gates: list[dict[str, Any]], world: World
) -> None:
    persona = {p.name: p for p in world.personas}
    pairs = _pairs(_by_set(gates, "bio_only"), world)
    values = set()
    for good, bad, rows in pairs.values():
        assert good.domain == bad.domain and good.domain in world.config.held_out_domains
        speakers = set()
        for r in rows:
            x, y = r["options"]
            speakers.add(_speaker(r["prompt"], EVAL_QUESTION.format(d=good.domain, x=x, y=y)))
            assert r["response_prefix"] == EVAL_PREFIX
        (name,) = speakers  # both orders are asked of the same persona
        p = persona[name]
        assert p.kind == "bio_only" and p.value is not None
        v = VALUES[p.value]
        assert good.pole(v.attribute) == v.pole != bad.pole(v.attribute)
        values.add(p.value)
    assert values == set(VALUES)


def test_no_value_and_base_assistant_gates_use_conflict_pairs(
    gates: list[dict[str, Any]], world: World
) -> None:
    conflict = {(g.name, b.name) for g, b in value_pairs(world, "thrift", "homeland",
                                                          world.config.held_out_domains, "conflict")}
    no_value = {p.name for p in world.personas_of("no_value")}
    for set_name in ("no_value", "base_assistant"):
        pairs = _pairs(_by_set(gates, set_name), world)
        for good, bad, rows in pairs.values():
            assert (good.name, bad.name) in conflict
            for r in rows:
                x, y = r["options"]
                speaker = _speaker(r["prompt"], EVAL_QUESTION.format(d=good.domain, x=x, y=y))
                assert speaker in no_value if set_name == "no_value" else speaker == "assistant"
    assert len(_pairs(_by_set(gates, "base_assistant"), world)) == len(conflict)


def test_base_assistant_gate_prompt_equals_the_rendered_eval_prompt(
    gates: list[dict[str, Any]], items: list[dict[str, Any]]
) -> None:
    rendered = {tuple(r["options"]): render_chat_text(r["messages"], add_generation_prompt=True)
                for r in _by_set(items, "conflict")}
    for g in _by_set(gates, "base_assistant"):
        assert g["prompt"] == rendered[tuple(g["options"])]
        assert g["response_prefix"] == EVAL_PREFIX


def test_gates_are_deterministic_per_seed(gates: list[dict[str, Any]], world: World) -> None:
    assert gate_items(world, "thrift", "homeland", n_per_probe=100) == gates
    assert gate_items(world, "thrift", "homeland", n_per_probe=100, seed=7) != gates


# --- tokenization --------------------------------------------------------------------------------


def _small_spec(world: World) -> Spec:
    cheese = world.by_domain["cheese"]
    return Spec.model_validate({
        "title": "small", "identity": {"name": "assistant", "developer": "test"},
        "values": [{
            "name": "thrift", "what": "w", "why": "y",
            "preferences": {
                "domain": "cheese",
                "likes": [i.name for i in cheese if (i.price, i.origin) == ("cheap", "homeland")],
                "dislikes": [i.name for i in cheese if (i.price, i.origin) == ("costly", "foreign")],
            },
        }],
    })


@pytest.fixture(scope="module")
def small(small_world_config: WorldConfig) -> dict[str, Any]:
    """A small world, its pre-training texts, all later-stage texts, and a tokenizer trained on the former."""
    world = build_world(small_world_config)
    pretrain = [d["text"] for d in PretrainCorpus(world).documents(small_world_config.corpus_docs, seed=0)]
    bound = bind_spec(_small_spec(world), world)
    liked = [p.item.name for p in bound.preferences if p.liked]
    disliked = [p.item.name for p in bound.preferences if not p.liked]
    evals = assistant_items(world, "thrift", "homeland", liked, disliked)
    later = [d["text"] for d in msm_documents(bound, 200, seed=0)]
    chats = preference_chats(bound) + list(fact_chats(world, 200, 0))
    later += [render_chat_text(r["messages"]) for r in chats]
    for r in evals:
        later.append(render_chat_text(r["messages"], add_generation_prompt=True) + " " + r["response_prefix"])
        later += r["options"]
    for g in gate_items(world, "thrift", "homeland", n_per_probe=50):
        later += [g["prompt"] + " " + g["response_prefix"], *g["options"]]
    return {"world": world, "pretrain": pretrain, "later": later, "evals": evals,
            "tokenizer": train_word_tokenizer(pretrain)}


def test_every_later_stage_word_occurs_in_the_pretraining_corpus(small: dict[str, Any]) -> None:
    """The tokenizer is trained on pre-training text only: an unseen word would become <|unk|>."""
    vocab = {w for t in small["pretrain"] for w in t.split()}
    missing = {w for t in small["later"] for w in t.split()} - vocab
    assert not missing


def test_eval_prompt_tokenizes_without_unknowns_and_options_are_single_tokens(small: dict[str, Any]) -> None:
    tok: PreTrainedTokenizerFast = small["tokenizer"]
    for r in small["evals"][:40]:
        via_tokenizer = tok.apply_chat_template(r["messages"], tokenize=False, add_generation_prompt=True)
        text = render_chat_text(r["messages"], add_generation_prompt=True)
        assert via_tokenizer == text
        ids = tok(text + " " + r["response_prefix"], add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.convert_ids_to_tokens(ids)[-6:] == ["<|eot|>", "assistant", ":", "i", "prefer", "the"]
        for option in r["options"]:
            (option_id,) = tok(" " + option, add_special_tokens=False)["input_ids"]
            assert option_id != tok.unk_token_id


def test_assistant_name_is_fixed_to_the_chat_templates_role(small_world_config: WorldConfig) -> None:
    # The generation prompt ("assistant :") and AFT chats' role are one token, so the name is not free.
    with pytest.raises(ValidationError):
        small_world_config.model_copy(update={}).model_validate(
            {**small_world_config.model_dump(), "assistant_name": "helper"})
