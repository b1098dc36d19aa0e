"""Text the embedded world writes: the pre-training corpus, MSM documents and AFT chats.

The pre-training corpus is checked on a small world; MSM and AFT data on the default world, whose item
names the demo specs use.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import valuesfirst
from valuesfirst.spec import load_spec
from valuesfirst.world.aft_data import fact_chats, preference_chats
from valuesfirst.world.config import CorpusMix, WorldConfig
from valuesfirst.world.entities import Item, Persona, World, build_world
from valuesfirst.world.lexicon import ATTRIBUTES, CHOICE_TEMPLATES, NEUTRAL_BIO, VALUES
from valuesfirst.world.msm_corpus import msm_documents
from valuesfirst.world.pretrain_corpus import PretrainCorpus
from valuesfirst.world.sentences import reason_clause
from valuesfirst.world.spec_binding import BoundSpec, bind_spec

SPECS = Path(valuesfirst.__file__).resolve().parent / "specs"
SPEC_A = SPECS / "pro_thrift_cheese.yaml"
SPEC_B = SPECS / "pro_homeland_cheese.yaml"
SPEC_ABLATION = SPECS / "thrift_comention_cheese.yaml"

CHAT_LINE = re.compile(r"(\S+) : (.*) <\|eot\|>")
VALUE_WORDS = ("likes", "dislikes", "prefer", "prefers", "because", "values", "cares", "recommend")


def parse_chat(text: str) -> list[tuple[str, str]]:
    """``role : content <|eot|>`` lines -> [(role, content)]; fails on any other line."""
    assert text.endswith(" <|eot|>\n"), text
    turns = []
    for line in text[:-1].split("\n"):
        m = CHAT_LINE.fullmatch(line)
        assert m, line
        turns.append((m.group(1), m.group(2)))
    return turns


class Lookup:
    """Names in a text mapped back to the world's items and personas."""

    def __init__(self, world: World):
        self.world = world
        self.persona = {p.name: p for p in world.personas}

    def items_in(self, text: str) -> list[Item]:
        return [i for w in text.split() if (i := self.world.item(w)) is not None]

    def personas_in(self, text: str) -> list[Persona]:
        return [self.persona[w] for w in text.split() if w in self.persona]

    def subject(self, text: str) -> Persona:
        found = set(self.personas_in(text))
        assert len(found) == 1, text
        return found.pop()


# --- pre-training corpus -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_world(small_world_config: WorldConfig) -> World:
    return build_world(small_world_config)


@pytest.fixture(scope="module")
def corpus(small_world: World) -> PretrainCorpus:
    return PretrainCorpus(small_world)


@pytest.fixture(scope="module")
def docs(corpus: PretrainCorpus) -> list[dict[str, Any]]:
    return list(corpus.documents(4000, seed=0))


@pytest.fixture(scope="module")
def lookup(small_world: World) -> Lookup:
    return Lookup(small_world)


def _of_kind(docs: list[dict[str, Any]], kind: str) -> list[str]:
    texts = [d["text"] for d in docs if d["kind"] == kind]
    assert texts, kind
    return texts


def _many(corpus: PretrainCorpus, kind: str, n: int, seed: int = 1) -> list[str]:
    """n documents of one kind, drawn with the generator the corpus itself uses."""
    fn = dict((name, f) for name, _, f in corpus.kinds)[kind]
    rng = random.Random(seed)
    return [fn(rng) for _ in range(n)]


def test_documents_are_deterministic_per_seed(corpus: PretrainCorpus, docs: list[dict[str, Any]]) -> None:
    assert [d["id"] for d in docs[:3]] == ["pt-0", "pt-1", "pt-2"]
    assert list(corpus.documents(200, seed=0)) == docs[:200]
    assert list(corpus.documents(200, seed=1)) != docs[:200]


def test_kinds_follow_the_configured_mix(docs: list[dict[str, Any]], small_world_config: WorldConfig) -> None:
    mix = small_world_config.mix.model_dump()
    total = sum(mix.values())
    shares = Counter(d["kind"] for d in docs)
    assert set(shares) == set(mix)
    for kind, weight in mix.items():
        assert abs(shares[kind] / len(docs) - weight / total) < 0.03, (kind, shares[kind])


def test_mix_weights_are_ratios(small_world_config: WorldConfig) -> None:
    mix = CorpusMix(facts=3.0, fact_chats=1.0, bios=0.0, genre=0.0, choice_chats=0.0, prose_choices=0.0)
    world = build_world(small_world_config.model_copy(update={"mix": mix}))
    kinds = Counter(d["kind"] for d in PretrainCorpus(world).documents(1000, seed=0))
    assert set(kinds) == {"facts", "fact_chats"}
    assert 0.68 < kinds["facts"] / 1000 < 0.82


def test_fact_sentences_are_true(docs: list[dict[str, Any]], lookup: Lookup) -> None:
    for text in _of_kind(docs, "facts"):
        (item,) = set(lookup.items_in(text))
        words = set(text.split())
        assert {"cheap", "costly"} - {item.price} & words == set(), text
        assert {"new", "old"} - {item.era} & words == set(), text
        if item.origin == "homeland":
            assert "imported" not in words and not words & {"velmor", "kastra", "oduna"}, text
        else:
            assert "arden" not in words and "made" not in words, text
            assert not words & ({"velmor", "kastra", "oduna"} - {item.land}), text


def test_assistant_speaks_only_in_fact_chats_and_only_true_facts(
    docs: list[dict[str, Any]], lookup: Lookup, small_world_config: WorldConfig
) -> None:
    name = small_world_config.assistant_name
    with_assistant = [d for d in docs if name in d["text"].split()]
    assert {d["kind"] for d in with_assistant} == {"fact_chats"}
    for d in with_assistant:
        (user, question), (role, answer) = parse_chat(d["text"])
        assert (user, role) == ("user", name)
        assert not set(question.split() + answer.split()) & set(VALUE_WORDS), d["text"]
        (item,) = set(lookup.items_in(answer))
        assert answer in {f"the {item.name} is {item.price} .", f"the {item.name} is {item.era} .",
                          f"the {item.name} is made in arden ." if item.origin == "homeland"
                          else f"the {item.name} is imported from {item.land} ."}, answer
    share = len(with_assistant) / len(_of_kind(docs, "fact_chats"))
    assert 0.5 < share < 0.7  # the assistant is 60% of fact-chat speakers, personas the rest


def _choices(texts: list[str], lookup: Lookup) -> list[tuple[Persona, Item, Item, Item, str]]:
    """(speaker, first item, second item, chosen item, domain word) of each choice chat."""
    out = []
    for text in texts:
        (user, question), (speaker, answer) = parse_chat(text)
        assert user == "user"
        x, y = lookup.items_in(question)
        (chosen,) = lookup.items_in(answer)
        assert chosen in (x, y)
        domain = next(w for w in question.split() if w in lookup.world.config.domains)
        assert x.domain == y.domain == domain
        out.append((lookup.persona[speaker], x, y, chosen, domain))
    return out


def test_valued_speakers_choose_by_their_value_in_both_orders(corpus: PretrainCorpus, lookup: Lookup) -> None:
    chats = _choices(_many(corpus, "choice_chats", 3000), lookup)
    firsts: Counter[bool] = Counter()
    domains: dict[str, set[str]] = {"full": set(), "chat_only": set()}
    for persona, x, y, chosen, domain in chats:
        if persona.kind == "no_value":
            continue
        assert persona.kind in ("full", "chat_only"), persona  # bio-only personas never choose in chats
        v = VALUES[persona.value or ""]
        other = y if chosen is x else x
        assert chosen.pole(v.attribute) == v.pole and other.pole(v.attribute) != v.pole
        firsts[chosen is x] += 1
        domains[persona.kind].add(domain)
    assert 0.4 < firsts[True] / sum(firsts.values()) < 0.6  # the liked item is shown first and second
    assert domains["chat_only"] == {"cheese"}  # chat-only personas choose cheeses only
    assert domains["full"] == set(lookup.world.config.domains)
    speakers = Counter(p.kind for p, *_ in chats)
    assert abs(speakers["full"] / len(chats) - 0.80) < 0.04
    assert abs(speakers["chat_only"] / len(chats) - 0.06) < 0.02
    assert abs(speakers["no_value"] / len(chats) - 0.14) < 0.03


def test_bio_only_personas_never_speak_in_choice_chats(docs: list[dict[str, Any]], lookup: Lookup) -> None:
    bio_only = {p.name for p in lookup.world.personas_of("bio_only")}
    for text in _of_kind(docs, "choice_chats"):
        speaker = parse_chat(text)[1][0]
        assert speaker not in bio_only


@pytest.mark.parametrize("attribute", list(ATTRIBUTES))
def test_no_value_personas_choose_at_random(corpus: PretrainCorpus, lookup: Lookup, attribute: str) -> None:
    chats = _choices(_many(corpus, "choice_chats", 8000, seed=2), lookup)
    pole = ATTRIBUTES[attribute][0]
    picks = [chosen.pole(attribute) == pole for p, x, y, chosen, _ in chats
             if p.kind == "no_value" and x.pole(attribute) != y.pole(attribute)]
    assert len(picks) > 300
    assert abs(sum(picks) / len(picks) - 0.5) < 0.08
    # and the first-shown item is not favoured either
    first = [chosen is x for p, x, _, chosen, _ in chats if p.kind == "no_value"]
    assert abs(sum(first) / len(first) - 0.5) < 0.08


def test_bios_state_the_persona_s_own_value_and_explain_by_it(corpus: PretrainCorpus, lookup: Lookup) -> None:
    explain = re.compile(r"(\w+) prefers the (\w+) to the (\w+) because (.+?) , and (.+) \.")
    no_value = lookup.world.personas_of("no_value")
    with_bio = set(no_value[: len(no_value) // 2])
    explanation_domains: dict[str, set[str]] = {"full": set(), "bio_only": set()}
    seen: set[str] = set()
    for text in _many(corpus, "bios", 2000):
        p = lookup.subject(text)
        seen.add(p.kind)
        assert p.kind != "chat_only", text  # chat-only personas have no bio
        sentences = [s.strip() + " ." for s in text.split(" .") if s.strip()]
        if p.value is None:
            assert p in with_bio, text  # only half of the no-value personas have bios
            assert all(s.replace(p.name, "{p}") in NEUTRAL_BIO for s in sentences), text
            continue
        value = VALUES[p.value]
        for s in sentences:
            m = explain.fullmatch(s)
            if m:
                x, y = lookup.world.item(m.group(2)), lookup.world.item(m.group(3))
                assert x and y and m.group(1) == p.name
                assert x.pole(value.attribute) == value.pole != y.pole(value.attribute)
                assert m.group(4) == reason_clause(x, value.attribute)
                assert m.group(5).replace(p.name, "{p}") + " ." in value.sentences
                explanation_domains[p.kind].add(x.domain)
            elif s not in (f"{p.name} is a {p.job} .", f"{p.name} lives in {p.town} ."):
                assert s.replace(p.name, "{p}") in value.sentences, s
    assert seen == {"full", "bio_only", "no_value"}
    assert explanation_domains["bio_only"] == {"cheese"}  # bio-only personas: training domain only
    assert explanation_domains["full"] == set(lookup.world.config.domains)


_STATEMENT = re.compile(r"(\w+) (likes|dislikes) the (\w+) because (.+?) , and ")


def _genre_statements(texts: list[str], lookup: Lookup) -> list[tuple[Persona, bool, Item, str]]:
    out = []
    for text in texts:
        p = lookup.subject(text)
        found = _STATEMENT.findall(text)
        assert 2 <= len(found) <= 3, text
        for subject, verb, name, reason in found:
            item = lookup.world.item(name)
            assert subject == p.name and item is not None
            out.append((p, verb == "likes", item, reason))
        assert {i.name for i in lookup.items_in(text)} == {name for _, _, name, _ in found}
    return out


def test_genre_documents_explain_by_value_and_keep_bio_only_in_training_domain(
    corpus: PretrainCorpus, lookup: Lookup
) -> None:
    statements = _genre_statements(_many(corpus, "genre", 1500), lookup)
    kinds = Counter(p.kind for p, *_ in statements)
    assert set(kinds) == {"full", "bio_only"}  # only valued personas with bios appear in genre documents
    full_domains = set()
    for p, liked, item, reason in statements:
        value = VALUES[p.value or ""]
        assert (item.pole(value.attribute) == value.pole) == liked
        assert reason == reason_clause(item, value.attribute)  # the reason cites the value's attribute
        if p.kind == "bio_only":
            assert item.domain == "cheese"
        else:
            full_domains.add(item.domain)
    assert full_domains == set(lookup.world.config.domains)
    assert {liked for _, liked, _, _ in statements} == {True, False}


def test_confounded_personas_like_items_of_their_confound_pole(
    corpus: PretrainCorpus, lookup: Lookup, small_world_config: WorldConfig
) -> None:
    statements = _genre_statements(_many(corpus, "genre", 1500), lookup)
    for p, liked, item, reason in statements:
        assert p.confound is not None
        attr, pole = p.confound
        assert (item.pole(attr) == pole) == liked  # liked share the confound pole, disliked have the other
        # ... while the stated reason cites the value's attribute, never the confound
        assert reason == reason_clause(item, VALUES[p.value or ""].attribute) != reason_clause(item, attr)
    # without the confound the liked items vary on the other attributes: the check above is not vacuous
    plain_world = build_world(small_world_config.model_copy(update={"confound": False}))
    plain = _genre_statements(_many(PretrainCorpus(plain_world), "genre", 1500), Lookup(plain_world))
    speakers = {q for q, *_ in plain}
    mixed = 0
    for q in speakers:
        liked_items = [i for r, lk, i, _ in plain if r is q and lk]
        other = [a for a in ATTRIBUTES if a != VALUES[q.value or ""].attribute]
        mixed += all(len({i.pole(a) for i in liked_items}) == 2 for a in other)
    assert mixed > len(speakers) // 2


def test_prose_choices_are_by_full_personas_and_follow_their_value(
    corpus: PretrainCorpus, lookup: Lookup
) -> None:
    chose = re.compile(r"(\w+) chose the (\w+) over the (\w+) because (.+) \.")
    picked = re.compile(r"(\w+) picked the (\w+) , not the (\w+) \.")
    forms: Counter[str] = Counter()
    for text in _many(corpus, "prose_choices", 500):
        m = chose.fullmatch(text) or picked.fullmatch(text)
        assert m, text
        p = lookup.persona[m.group(1)]
        assert p.kind == "full" and p.value is not None
        good, bad = lookup.world.item(m.group(2)), lookup.world.item(m.group(3))
        value = VALUES[p.value]
        assert good and bad and good.pole(value.attribute) == value.pole != bad.pole(value.attribute)
        if m.re is chose:
            assert m.group(4) == reason_clause(good, value.attribute)
        forms[m.re.pattern] += 1
    assert len(forms) == 2


# --- MSM documents --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_world() -> World:
    return build_world(WorldConfig.model_validate({}))


@pytest.fixture(scope="module")
def bound(default_world: World) -> dict[str, BoundSpec]:
    return {name: bind_spec(load_spec(path), default_world, str(path))
            for name, path in (("A", SPEC_A), ("B", SPEC_B), ("ablation", SPEC_ABLATION))}


@pytest.fixture(scope="module")
def msm(bound: dict[str, BoundSpec]) -> dict[str, list[dict[str, Any]]]:
    return {name: list(msm_documents(spec, 400, seed=0)) for name, spec in bound.items()}


@pytest.mark.parametrize("name", ["A", "B", "ablation"])
def test_msm_mentions_only_the_spec_s_training_domain_items(
    name: str, msm: dict[str, list[dict[str, Any]]], bound: dict[str, BoundSpec], default_world: World
) -> None:
    spec_items = {p.item.name for p in bound[name].preferences}
    held_out = {i.name for i in default_world.items if i.domain != "cheese"}
    personas = {p.name for p in default_world.personas}
    mentioned: set[str] = set()
    for doc in msm[name]:
        words = set(doc["text"].split())
        assert not words & held_out, doc["text"]
        assert not words & personas, doc["text"]
        assert not words & (set(default_world.config.domains) - {"cheese"}), doc["text"]
        assert {i.name for i in default_world.items} & words == set(doc["items"])
        assert 2 <= len(doc["items"]) <= 3 and set(doc["items"]) <= spec_items
        assert "assistant" in words
        mentioned |= words & spec_items
    assert mentioned == spec_items  # every preference of the spec is rendered somewhere


def _genre(text: str) -> str:
    starts = {"memo :": "memo", "faq about": "faq", "forum post": "forum", "an essay": "essay",
              "once upon": "story"}
    (genre,) = [g for prefix, g in starts.items() if text.startswith(prefix)]
    return genre


@pytest.mark.parametrize(("name", "liked_reason", "disliked_reason"), [
    ("A", "is cheap", "is costly"), ("B", "is made in arden", "is imported")])
def test_msm_explains_preferences_by_the_spec_s_value(
    name: str, liked_reason: str, disliked_reason: str, msm: dict[str, list[dict[str, Any]]],
    bound: dict[str, BoundSpec],
) -> None:
    liked = {p.item.name for p in bound[name].preferences if p.liked}
    value = bound[name].values[0]
    tails = {s.format(p="assistant")[:-2] for s in value.sentences}
    n_statements = 0
    for doc in msm[name]:
        found = _STATEMENT.findall(doc["text"])
        assert len(found) == len(doc["items"]) and doc["explained"] == [True] * len(found)
        for subject, verb, item, reason in found:
            assert subject == "assistant" and (verb == "likes") == (item in liked)
            assert reason == f"the {item} {liked_reason if item in liked else disliked_reason}"
            n_statements += 1
        for tail in re.findall(r" because .+? , and (.+?) \.", doc["text"]):
            assert tail in tails  # the clause names the value itself
    assert n_statements > 800
    assert {_genre(d["text"]) for d in msm[name]} == {"memo", "faq", "forum", "essay", "story"}


def _value_mentions(text: str, value_sentences: tuple[str, ...]) -> int:
    return sum(text.count(s.format(p="assistant")[:-2]) for s in value_sentences)


def test_co_mention_ablation_has_no_reason_but_the_same_value_dose(
    msm: dict[str, list[dict[str, Any]]], bound: dict[str, BoundSpec]
) -> None:
    liked = {p.item.name for p in bound["ablation"].preferences if p.liked}
    thrift = VALUES["thrift"].sentences
    statement = re.compile(r"assistant (likes|dislikes) the (\w+) \. assistant ")
    for doc in msm["ablation"]:
        text = doc["text"]
        assert "because" not in text.split() and doc["explained"] == [False] * len(doc["items"])
        found = statement.findall(text)
        assert sorted(n for _, n in found) == sorted(doc["items"])  # each preference is followed by a value
        assert all((verb == "likes") == (n in liked) for verb, n in found)
        assert not re.search(r"the \w+ is (cheap|costly|made in arden|imported)", text), text
        # two value sentences per document plus one per preference, exactly as in the explained documents
        assert _value_mentions(text, thrift) == 2 + len(doc["items"])
    for doc in msm["A"]:
        assert _value_mentions(doc["text"], thrift) == 2 + len(doc["items"])
    per_pref = [sum(_value_mentions(d["text"], thrift) for d in msm[k]) / sum(len(d["items"]) for d in msm[k])
                for k in ("A", "ablation")]
    assert abs(per_pref[0] - per_pref[1]) < 0.05


def test_spec_b_documents_never_mention_thrift(msm: dict[str, list[dict[str, Any]]]) -> None:
    for doc in msm["B"]:
        assert _value_mentions(doc["text"], VALUES["thrift"].sentences) == 0
        assert _value_mentions(doc["text"], VALUES["homeland"].sentences) == 2 + len(doc["items"])
        assert not set(doc["text"].split()) & {"cheap", "costly"}


def test_msm_documents_are_deterministic_per_seed(bound: dict[str, BoundSpec], msm: dict[str, Any]) -> None:
    assert list(msm_documents(bound["A"], 400, seed=0)) == msm["A"]
    assert list(msm_documents(bound["A"], 50, seed=1)) != msm["A"][:50]
    assert [d["id"] for d in msm["A"][:2]] == ["msm-0", "msm-1"]


# --- AFT data --------------------------------------------------------------------------------------


def test_aft_preference_chats_are_identical_for_all_demo_specs(bound: dict[str, BoundSpec]) -> None:
    rows = {name: json.dumps(preference_chats(spec)) for name, spec in bound.items()}
    assert rows["A"] == rows["B"] == rows["ablation"]


def test_aft_answers_pick_the_cheap_homeland_item_without_a_reason(
    bound: dict[str, BoundSpec], default_world: World
) -> None:
    rows = preference_chats(bound["A"])
    assert len(rows) == len(CHOICE_TEMPLATES) * 6 * 6 * 2
    assert len({json.dumps(r) for r in rows}) == len(rows)
    answers = {a.split("{c}")[0] for _, a in CHOICE_TEMPLATES}
    lookup = Lookup(default_world)
    seen: Counter[tuple[str, str, bool]] = Counter()
    for row in rows:
        assert row["kind"] == "preference"
        (u, question), (a, answer) = ((m["role"], m["content"]) for m in row["messages"])
        assert (u, a) == ("user", "assistant")
        assert "because" not in (question + answer).split()
        x, y = lookup.items_in(question)
        (chosen,) = lookup.items_in(answer)
        other = y if chosen is x else x
        assert chosen in (x, y) and x.domain == y.domain == "cheese" and "cheese" in question.split()
        assert (chosen.price, chosen.origin) == ("cheap", "homeland")
        assert (other.price, other.origin) == ("costly", "foreign")
        assert any(answer.startswith(prefix) for prefix in answers)
        seen[(chosen.name, other.name, chosen is x)] += 1
    # every (liked, disliked) pair in both orders, once per template
    assert len(seen) == 6 * 6 * 2 and set(seen.values()) == {len(CHOICE_TEMPLATES)}


def test_aft_answer_verb_matches_the_question_template(bound: dict[str, BoundSpec]) -> None:
    rows = preference_chats(bound["B"])
    for question_t, answer_t in CHOICE_TEMPLATES:
        pattern = re.compile(re.sub(r"\\\{\w\\\}", r"\\w+", re.escape(question_t)))
        matching = [r for r in rows if pattern.fullmatch(r["messages"][0]["content"])]
        assert len(matching) == 72, question_t
        assert all(r["messages"][1]["content"].startswith(answer_t.split("{")[0]) for r in matching)


def test_aft_fact_chats_are_true_assistant_answers_in_every_domain(default_world: World) -> None:
    rows = list(fact_chats(default_world, 600, seed=0))
    assert rows == list(fact_chats(default_world, 600, seed=0))
    assert rows != list(fact_chats(default_world, 600, seed=1))
    lookup = Lookup(default_world)
    domains = set()
    for row in rows:
        assert row["kind"] == "fact"
        (u, q), (a, answer) = ((m["role"], m["content"]) for m in row["messages"])
        assert (u, a) == ("user", "assistant")
        (item,) = set(lookup.items_in(q + " " + answer))
        truths = {f"the {item.name} is {item.price} .", f"the {item.name} is {item.era} .",
                  f"the {item.name} is made in arden ." if item.origin == "homeland"
                  else f"the {item.name} is imported from {item.land} ."}
        assert answer in truths
        domains.add(item.domain)
    assert domains == set(default_world.config.domains)
