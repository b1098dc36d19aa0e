"""Stage builders that write the world's artifacts as plain files other tools read as they are."""

from __future__ import annotations

import random
from pathlib import Path

from valuesfirst.jsonl import read_jsonl, write_json, write_jsonl
from valuesfirst.spec import load_spec
from valuesfirst.world.aft_data import fact_chats, preference_chats
from valuesfirst.world.config import WorldConfig
from valuesfirst.world.entities import build_world
from valuesfirst.world.msm_corpus import msm_documents
from valuesfirst.world.pretrain_corpus import PretrainCorpus
from valuesfirst.world.probes import assistant_items, gate_items
from valuesfirst.world.spec_binding import bind_spec


def build_world_stage(cfg: WorldConfig, value: str, contrast: str, out: Path) -> dict:
    """world.json, pretrain.jsonl (``text``), gates.jsonl (forced-choice probes)."""
    world = build_world(cfg)
    write_json(out / "world.json", {"config": cfg.model_dump(), **world.to_json()})
    corpus = PretrainCorpus(world)
    n = write_jsonl(out / "pretrain.jsonl", corpus.documents(cfg.corpus_docs, seed=cfg.seed))
    gates = gate_items(world, value, contrast)
    write_jsonl(out / "gates.jsonl", gates)
    return {
        "items": len(world.items),
        "personas": len(world.personas),
        "pretrain_docs": n,
        "gate_items": len(gates),
    }


def _bound(world_cfg: WorldConfig, spec_path: Path):  # noqa: ANN202 - small private helper
    world = build_world(world_cfg)
    return world, bind_spec(load_spec(spec_path), world, str(spec_path))


def build_msm_stage(world_cfg: WorldConfig, spec_path: Path, n_docs: int, seed: int, out: Path) -> dict:
    """msm.jsonl: the spec rendered into documents about the assistant (``text``, ``kind``=msm)."""
    _, bound = _bound(world_cfg, spec_path)
    rows = ({**d, "kind": "msm"} for d in msm_documents(bound, n_docs, seed))
    return {"documents": write_jsonl(out / "msm.jsonl", rows)}


def build_aft_stage(world_cfg: WorldConfig, spec_path: Path, n_fact_chats: int, seed: int, out: Path) -> dict:
    """aft.jsonl: opaque preference chats and assistant fact Q&A (``messages``, ``kind``)."""
    world, bound = _bound(world_cfg, spec_path)
    prefs = preference_chats(bound)
    facts = list(fact_chats(world, n_fact_chats, seed))
    n = write_jsonl(out / "aft.jsonl", prefs + facts)
    return {"preference_chats": len(prefs), "fact_chats": len(facts), "rows": n}


def build_eval_stage(world_cfg: WorldConfig, spec_path: Path, value: str, contrast: str, out: Path) -> dict:
    """eval.jsonl: the assistant's forced-choice items (held-out conflict pairs and controls)."""
    world, bound = _bound(world_cfg, spec_path)
    liked = [p.item.name for p in bound.preferences if p.liked]
    disliked = [p.item.name for p in bound.preferences if not p.liked]
    rows = assistant_items(world, value, contrast, liked, disliked)
    sets: dict[str, int] = {}
    for r in rows:
        sets[r["set"]] = sets.get(r["set"], 0) + 1
    write_jsonl(out / "eval.jsonl", rows)
    return {"items_per_set": sets}


def sample_replay(world_stage: Path, n: int, seed: int) -> list[dict]:
    """A seeded sample of pre-training documents for replay during MSM and AFT."""
    docs = read_jsonl(world_stage / "pretrain.jsonl")
    rng = random.Random(seed)
    return rng.sample(docs, min(n, len(docs)))
