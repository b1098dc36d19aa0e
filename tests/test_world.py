"""The embedded world: config validation, items and personas, spec binding, and the stage builders' files.

Corpus content is tested in test_world_corpus.py, forced-choice items in test_world_probes.py.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import valuesfirst
from valuesfirst.errors import InputError
from valuesfirst.jsonl import read_json, read_jsonl
from valuesfirst.spec import Spec, load_spec
from valuesfirst.world.build import (
    build_aft_stage,
    build_eval_stage,
    build_msm_stage,
    build_world_stage,
    sample_replay,
)
from valuesfirst.world.config import WorldConfig
from valuesfirst.world.entities import World, build_world
from valuesfirst.world.lexicon import (
    ATTRIBUTES,
    CHOICE_TEMPLATES,
    DOMAINS,
    EVAL_PREFIX,
    EVAL_QUESTION,
    FOREIGN_LANDS,
    HOMELAND,
    JOBS,
    NEUTRAL_BIO,
    TOWNS,
    VALUES,
)
from valuesfirst.world.pretrain_corpus import PretrainCorpus
from valuesfirst.world.probes import gate_items
from valuesfirst.world.spec_binding import bind_spec
from valuesfirst.world.tokenizer import TEMPLATE_WORDS

SPECS = Path(valuesfirst.__file__).resolve().parent / "specs"
SPEC_A = SPECS / "pro_thrift_cheese.yaml"
SPEC_B = SPECS / "pro_homeland_cheese.yaml"
SPEC_ABLATION = SPECS / "thrift_comention_cheese.yaml"
DEMO_SPECS = (SPEC_A, SPEC_B, SPEC_ABLATION)

CELLS = list(itertools.product(*ATTRIBUTES.values()))
WORD = re.compile(r"[a-z]+")


@pytest.fixture(scope="module")
def default_world() -> World:
    return build_world(WorldConfig.model_validate({}))


def _names(world: World) -> set[str]:
    return {i.name for i in world.items} | {p.name for p in world.personas}


# --- config -----------------------------------------------------------------------------------------


def test_default_config_matches_the_feasibility_design() -> None:
    cfg = WorldConfig.model_validate({})
    assert cfg.domains[0] == cfg.training_domain == "cheese"
    assert len(cfg.domains) == 12 and len(cfg.held_out_domains) == 11
    assert "cheese" not in cfg.held_out_domains
    assert set(cfg.values) == set(VALUES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domains": ["cheese", "spaceship"]}, "unknown domains ['spaceship']"),
        ({"domains": ["car", "book"]}, "training_domain 'cheese' is not in domains"),
        ({"domains": ["car", "book"], "training_domain": "hat"}, "training_domain 'hat' is not in domains"),
        ({"domains": ["cheese"]}, "at least one held-out domain"),
        ({"values": ["thrift", "greed"]}, "unknown values ['greed']"),
        ({"items_per_cell": 0}, "items_per_cell"),
        ({"personas_no_value": 1}, "personas_no_value"),
        ({"corpus_docs": 10}, "corpus_docs"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_config_errors_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        WorldConfig(**kwargs)
    assert message in str(info.value)


def test_training_domain_can_be_any_listed_domain() -> None:
    cfg = WorldConfig.model_validate({"domains": ["car", "book", "hat"], "training_domain": "book"})
    assert cfg.held_out_domains == ["car", "hat"]


# --- items and personas ----------------------------------------------------------------------------


def test_build_world_is_deterministic_per_seed_and_differs_across_seeds(
    small_world_config: WorldConfig,
) -> None:
    a = build_world(small_world_config).to_json()
    assert a == build_world(small_world_config.model_copy()).to_json()
    b = build_world(small_world_config.model_copy(update={"seed": 1})).to_json()
    assert [i["name"] for i in a["items"]] != [i["name"] for i in b["items"]]
    assert [p["name"] for p in a["personas"]] != [p["name"] for p in b["personas"]]


@pytest.mark.parametrize("which", ["small", "default"])
def test_items_fill_every_attribute_cell_of_every_domain(
    which: str, small_world_config: WorldConfig, default_world: World
) -> None:
    world = build_world(small_world_config) if which == "small" else default_world
    cfg = world.config
    assert len(world.items) == len(cfg.domains) * 8 * cfg.items_per_cell
    assert list(world.by_domain) == cfg.domains
    for domain in cfg.domains:
        cells = Counter((i.price, i.origin, i.era) for i in world.by_domain[domain])
        assert cells == {cell: cfg.items_per_cell for cell in CELLS}, domain
    for item in world.items:
        assert world.item(item.name) is item
        if item.origin == "homeland":
            assert item.land == HOMELAND
        else:
            assert item.land in FOREIGN_LANDS
    assert world.item("no-such-item") is None
    # foreign items come from more than one land (the land is drawn, not fixed)
    assert len({i.land for i in world.items if i.origin == "foreign"}) == len(FOREIGN_LANDS)


@pytest.mark.parametrize("which", ["small", "default"])
def test_names_are_unique_single_lowercase_words_disjoint_from_reserved(
    which: str, small_world_config: WorldConfig, default_world: World
) -> None:
    world = build_world(small_world_config) if which == "small" else default_world
    item_names = [i.name for i in world.items]
    persona_names = [p.name for p in world.personas]
    assert len(set(item_names)) == len(item_names)
    assert len(set(persona_names)) == len(persona_names)
    assert not set(item_names) & set(persona_names)
    for name in item_names + persona_names:
        assert WORD.fullmatch(name) and len(name) >= 4, name
    reserved = {"arden", "assistant", "user", world.config.assistant_name, *FOREIGN_LANDS, *TOWNS, *JOBS,
                *DOMAINS, *VALUES}
    assert not _names(world) & reserved


def _lexicon_words() -> set[str]:
    strings: list[str] = [*NEUTRAL_BIO, *JOBS, *TOWNS, *DOMAINS, *FOREIGN_LANDS, HOMELAND, EVAL_QUESTION,
                          EVAL_PREFIX, *TEMPLATE_WORDS, *ATTRIBUTES]
    for value in VALUES.values():
        strings += [*value.sentences, value.because, value.name]
    for poles in ATTRIBUTES.values():
        strings += poles
    for question, answer in CHOICE_TEMPLATES:
        strings += [question, answer]
    return {w for s in strings for w in re.sub(r"\{\w+\}", " ", s).split()}


@pytest.fixture(scope="module")
def template_vocabulary(small_world_config: WorldConfig) -> set[str]:
    """Every non-name word the world's text uses: the lexicon plus the words the code's templates emit."""
    world = build_world(small_world_config)
    texts = [d["text"] for d in PretrainCorpus(world).documents(3000, seed=5)]
    texts += [g["prompt"] for g in gate_items(world, "thrift", "homeland", n_per_probe=20)]
    emitted = {w for t in texts for w in t.split()} - _names(world)
    vocab = _lexicon_words() | emitted
    # sanity: the words of the genre and fact templates are in it
    assert {"memo", "forum", "essay", "because", "likes", "prefers", "called", "people", "made"} <= vocab
    return vocab


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_item_or_persona_is_named_like_a_template_word(seed: int, template_vocabulary: set[str]) -> None:
    world = build_world(WorldConfig.model_validate({"seed": seed}))
    collisions = _names(world) & template_vocabulary
    assert not collisions


# Seeds whose names collided with template words before every lexicon word was reserved.
@pytest.mark.parametrize("seed", [26, 114])
def test_known_seeds_where_names_collide_with_template_words(
    seed: int, template_vocabulary: set[str]
) -> None:
    world = build_world(WorldConfig.model_validate({"seed": seed}))
    collisions = _names(world) & template_vocabulary
    assert not collisions


def test_persona_counts_per_kind_and_value_match_config(small_world_config: WorldConfig) -> None:
    cfg = small_world_config
    world = build_world(cfg)
    counts = Counter((p.kind, p.value) for p in world.personas)
    per_value = {"full": cfg.personas_full, "bio_only": cfg.personas_bio_only,
                 "chat_only": cfg.personas_chat_only}
    expected: dict[tuple[str, str | None], int] = {
        (kind, value): n for value in cfg.values for kind, n in per_value.items()}
    expected[("no_value", None)] = cfg.personas_no_value
    assert counts == expected
    assert len(world.personas_of("bio_only")) == cfg.personas_bio_only * len(cfg.values)


def test_default_world_has_the_designed_size(default_world: World) -> None:
    assert len(default_world.items) == 288
    assert len(default_world.personas) == 6 * 36 + 48


def test_confound_is_an_incidental_pole_of_another_attribute(small_world_config: WorldConfig) -> None:
    world = build_world(small_world_config)
    for p in world.personas:
        if p.kind in ("full", "bio_only"):
            assert p.value is not None and p.confound is not None
            attr, pole = p.confound
            assert attr != VALUES[p.value].attribute
            assert pole in ATTRIBUTES[attr]
        else:  # chat-only personas only choose; no-value personas have nothing to confound
            assert p.confound is None
    assert len({p.confound for p in world.personas if p.confound}) > 2  # confounds are drawn, not fixed
    plain = build_world(small_world_config.model_copy(update={"confound": False}))
    assert all(p.confound is None for p in plain.personas)


def test_world_json_is_serialisable(small_world_config: WorldConfig) -> None:
    data = build_world(small_world_config).to_json()
    back = json.loads(json.dumps(data))
    assert back["items"][0].keys() == {"name", "domain", "price", "origin", "era", "land"}
    assert {p["kind"] for p in back["personas"]} == {"full", "bio_only", "chat_only", "no_value"}


# --- spec binding ----------------------------------------------------------------------------------


LIKED = ["vouzal", "grovoul", "driplen", "regul", "kraistel", "gaifouk"]
DISLIKED = ["remoun", "dupo", "faike", "faikrais", "grigrour", "maiplous"]


def test_demo_specs_name_the_cheap_homeland_and_costly_foreign_cheeses(default_world: World) -> None:
    cheeses = default_world.by_domain["cheese"]
    cheap_home = {i.name for i in cheeses if i.price == "cheap" and i.origin == "homeland"}
    costly_foreign = {i.name for i in cheeses if i.price == "costly" and i.origin == "foreign"}
    assert set(LIKED) == cheap_home and set(DISLIKED) == costly_foreign


@pytest.mark.parametrize(
    ("path", "value", "explained"),
    [(SPEC_A, "thrift", True), (SPEC_B, "homeland", True), (SPEC_ABLATION, "thrift", False)],
)
def test_demo_specs_bind_to_the_default_world(
    path: Path, value: str, explained: bool, default_world: World
) -> None:
    bound = bind_spec(load_spec(path), default_world, str(path))
    assert bound.subject == "assistant"
    assert [v.name for v in bound.values] == [value]
    assert [p.item.name for p in bound.preferences if p.liked] == LIKED
    assert [p.item.name for p in bound.preferences if not p.liked] == DISLIKED
    for p in bound.preferences:
        assert p.item.domain == "cheese"
        assert p.value == (VALUES[value] if explained else None)


def _spec_dict(path: Path) -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(path.read_text()))


def _bind_error(data: dict[str, Any], world: World) -> InputError:
    with pytest.raises(InputError) as info:
        bind_spec(Spec.model_validate(data), world, "bad.yaml")
    assert all(p.file == "bad.yaml" for p in info.value.problems)
    return info.value


def test_unknown_value_name_is_named(default_world: World) -> None:
    data = _spec_dict(SPEC_A)
    data["values"][0]["name"] = "honesty"
    err = _bind_error(data, default_world)
    fields = [p.field for p in err.problems]
    # the value's preferences cannot be explained by an unknown value, so none are left to render
    assert fields == ["values[0].name", "preferences"]
    assert "'honesty' is not a value of this world" in err.problems[0].message


def test_item_not_in_world_is_named_with_its_index(default_world: World) -> None:
    data = _spec_dict(SPEC_A)
    data["values"][0]["preferences"]["likes"][2] = "zorbix"
    data["values"][0]["preferences"]["dislikes"][5] = "quux"
    err = _bind_error(data, default_world)
    assert [p.field for p in err.problems] == [
        "values[0].preferences.likes[2]", "values[0].preferences.dislikes[5]"]
    assert "'zorbix' is not a cheese of this world" in err.problems[0].message


def test_item_of_another_domain_is_named(default_world: World) -> None:
    car = default_world.by_domain["car"][0].name
    data = _spec_dict(SPEC_B)
    data["values"][0]["preferences"]["likes"][1] = car
    err = _bind_error(data, default_world)
    assert [p.field for p in err.problems] == ["values[0].preferences.likes[1]"]
    assert repr(car) in err.problems[0].message


def test_preferences_in_a_held_out_domain_are_refused(default_world: World) -> None:
    cars = default_world.by_domain["car"]
    data = _spec_dict(SPEC_A)
    data["values"][0]["preferences"] = {"domain": "car", "likes": [cars[0].name], "dislikes": [cars[-1].name]}
    err = _bind_error(data, default_world)
    assert [p.field for p in err.problems] == ["values[0].preferences.domain", "preferences"]
    assert "training domain is 'cheese'" in err.problems[0].message


def test_wrong_identity_name_and_top_level_preferences_are_named(default_world: World) -> None:
    data = _spec_dict(SPEC_ABLATION)
    data["identity"]["name"] = "helper"
    data["preferences"]["dislikes"][0] = "nothing"
    err = _bind_error(data, default_world)
    assert [p.field for p in err.problems] == ["identity.name", "preferences.dislikes[0]"]
    assert "'assistant'" in err.problems[0].message


def test_spec_without_preferences_is_refused(default_world: World) -> None:
    data = _spec_dict(SPEC_A)
    del data["values"][0]["preferences"]
    err = _bind_error(data, default_world)
    assert [p.field for p in err.problems] == ["preferences"]


def test_demo_spec_items_do_not_bind_to_another_seed() -> None:
    other = build_world(WorldConfig.model_validate({"seed": 1}))
    with pytest.raises(InputError) as info:
        bind_spec(load_spec(SPEC_A), other, str(SPEC_A))
    assert "world seed 1" in str(info.value)


# --- stage builders -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # the default world (the demo specs' item names) with a short corpus
    cfg = WorldConfig.model_validate({"corpus_docs": 300})
    root = tmp_path_factory.mktemp("stages")
    out = {name: root / name for name in ("world", "msm", "msm_b", "aft", "aft_b", "eval")}
    for path in out.values():
        path.mkdir()
    return {
        "cfg": cfg,
        "dirs": out,
        "world": build_world_stage(cfg, "thrift", "homeland", out["world"]),
        "msm": build_msm_stage(cfg, SPEC_A, 40, 0, out["msm"]),
        "msm_b": build_msm_stage(cfg, SPEC_B, 40, 0, out["msm_b"]),
        "aft": build_aft_stage(cfg, SPEC_A, 30, 0, out["aft"]),
        "aft_b": build_aft_stage(cfg, SPEC_B, 30, 0, out["aft_b"]),
        "eval": build_eval_stage(cfg, SPEC_A, "thrift", "homeland", out["eval"]),
    }


def test_world_stage_writes_world_pretrain_and_gates(stages: dict[str, Any]) -> None:
    d = stages["dirs"]["world"]
    assert sorted(p.name for p in d.iterdir()) == ["gates.jsonl", "pretrain.jsonl", "world.json"]
    world = read_json(d / "world.json")
    assert WorldConfig.model_validate(world["config"]) == stages["cfg"]
    assert world["items"] == build_world(stages["cfg"]).to_json()["items"]
    pretrain = read_jsonl(d / "pretrain.jsonl", required=["id", "kind", "text"])
    gates = read_jsonl(d / "gates.jsonl", required=["set", "id", "options", "target", "response_prefix"])
    assert stages["world"] == {"items": 288, "personas": 264, "pretrain_docs": 300, "gate_items": len(gates)}
    assert len(pretrain) == 300 and len({r["id"] for r in pretrain}) == 300
    assert {g["set"] for g in gates} == {"facts", "bio_only", "no_value", "base_assistant"}


def test_msm_aft_and_eval_stages_write_their_files(stages: dict[str, Any]) -> None:
    dirs = stages["dirs"]
    msm = read_jsonl(dirs["msm"] / "msm.jsonl", required=["id", "text", "kind"])
    assert stages["msm"] == {"documents": 40} and len(msm) == 40
    assert {r["kind"] for r in msm} == {"msm"}
    aft = read_jsonl(dirs["aft"] / "aft.jsonl", required=["kind", "messages"])
    assert stages["aft"] == {"preference_chats": 288, "fact_chats": 30, "rows": 318}
    assert Counter(r["kind"] for r in aft) == {"preference": 288, "fact": 30}
    ev = read_jsonl(dirs["eval"] / "eval.jsonl", required=["set", "messages", "options", "target"])
    assert stages["eval"] == {"items_per_set": {"conflict": 396, "agree": 396, "train_domain": 72}}
    assert len(ev) == 396 + 396 + 72


def test_aft_files_are_byte_identical_for_spec_a_and_b_but_msm_files_differ(stages: dict[str, Any]) -> None:
    dirs = stages["dirs"]
    assert (dirs["aft"] / "aft.jsonl").read_bytes() == (dirs["aft_b"] / "aft.jsonl").read_bytes()
    assert (dirs["msm"] / "msm.jsonl").read_bytes() != (dirs["msm_b"] / "msm.jsonl").read_bytes()


def test_stage_builders_are_deterministic(stages: dict[str, Any], tmp_path: Path) -> None:
    build_world_stage(stages["cfg"], "thrift", "homeland", tmp_path)
    build_msm_stage(stages["cfg"], SPEC_A, 40, 0, tmp_path)
    for name, stage in (("pretrain.jsonl", "world"), ("gates.jsonl", "world"), ("msm.jsonl", "msm")):
        assert (tmp_path / name).read_bytes() == (stages["dirs"][stage] / name).read_bytes(), name


def test_stage_refuses_a_spec_that_does_not_bind(stages: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(InputError):
        build_msm_stage(stages["cfg"].model_copy(update={"seed": 1}), SPEC_A, 5, 0, tmp_path)
    assert not (tmp_path / "msm.jsonl").exists()


def test_datasets_loads_the_jsonl_files_as_they_are(stages: dict[str, Any], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    dirs = stages["dirs"]

    def load(path: Path) -> Any:
        return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path))

    pretrain = load(dirs["world"] / "pretrain.jsonl")
    assert pretrain.num_rows == 300 and "text" in pretrain.column_names
    assert pretrain[0]["text"] == read_jsonl(dirs["world"] / "pretrain.jsonl")[0]["text"]
    msm = load(dirs["msm"] / "msm.jsonl")
    assert msm.num_rows == 40 and "text" in msm.column_names
    aft = load(dirs["aft"] / "aft.jsonl")
    assert aft.num_rows == 318 and {"messages", "kind"} <= set(aft.column_names)
    assert aft[0]["messages"] == read_jsonl(dirs["aft"] / "aft.jsonl")[0]["messages"]
    ev = load(dirs["eval"] / "eval.jsonl")
    assert ev.num_rows == 864 and {"messages", "options", "target", "response_prefix"} <= set(ev.column_names)


def test_sample_replay_is_a_seeded_subset(stages: dict[str, Any]) -> None:
    d = stages["dirs"]["world"]
    texts = {r["text"] for r in read_jsonl(d / "pretrain.jsonl")}
    a = sample_replay(d, 50, seed=3)
    assert len(a) == 50 and len({r["id"] for r in a}) == 50
    assert all(r["text"] in texts for r in a)
    assert a == sample_replay(d, 50, seed=3)
    assert a != sample_replay(d, 50, seed=4)
    assert len(sample_replay(d, 10_000, seed=0)) == 300
