"""Forced choice is length-fair: a model with uniform logits (no preference at all) scores 0.50 ± 0.02 on
every shipped pair set, in ``eval values`` and in the world demo's sets, and the shipped value pairs are
worded in parallel (equal length), so even summed log-probabilities cannot read option length."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from valuesfirst.cli import app
from valuesfirst.evals import capability, values
from valuesfirst.evals.logprob_cli import value_items
from valuesfirst.evals.scoring import summarize
from valuesfirst.models.load import save_model
from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
SMOL = Path.home() / ".cache" / "valuesfirst" / "models" / "smollm2-135m-instruct"
PAIR_SETS = ("value_pairs.jsonl", "affordability_america_pairs.jsonl")


def _uniform(tokenizer: Any) -> Any:
    model = build_tiny_model(
        TinyModelConfig(
            hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, tie_word_embeddings=False
        ),
        tokenizer,
        0,
    )
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()  # every next token equally likely
    return model


@pytest.fixture(scope="module")
def smol_tokenizer() -> Any:
    if not (SMOL / "tokenizer.json").is_file():
        pytest.skip("SmolLM2 tokenizer not installed (valuesfirst models fetch smollm2-135m-instruct)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(SMOL))


def _rates(rows: list[dict]) -> dict[str, float]:
    s = summarize(rows, values.METRIC)["model"]
    by: dict[str, list[float]] = {}
    for cell, c in s["cells"].items():
        by.setdefault(cell.split("/")[0], []).append(c["mean"])
    return {k: sum(v) / len(v) for k, v in by.items()}


@pytest.mark.parametrize("pair_set", PAIR_SETS)
@pytest.mark.parametrize("normalize", ["mean", "sum"])
def test_uniform_logits_score_one_half_on_every_shipped_pair_set(
    pair_set: str, normalize: str, smol_tokenizer: Any
) -> None:
    items = value_items(capability.shipped(pair_set))
    model = _uniform(smol_tokenizer)
    cfg = values.ForcedChoiceConfig(normalize=normalize, batch_size=64)  # type: ignore[arg-type]
    rates = _rates(values.score_local(model, smol_tokenizer, items, config=cfg))
    for value, rate in rates.items():
        assert abs(rate - 0.5) <= 0.02 + 1e-9, (pair_set, normalize, value, rate)
    if normalize == "mean":
        assert set(rates.values()) == {0.5}  # every option scores the same per token: all ties


def test_shipped_value_pairs_are_worded_in_parallel(smol_tokenizer: Any) -> None:
    rows = values.load_source(capability.shipped("value_pairs.jsonl"))
    for row in rows:
        for good, bad in values.source_pairs(row):
            assert len(good.split()) == len(bad.split()), (good, bad)
            n = [len(smol_tokenizer(f" {o}", add_special_tokens=False)["input_ids"]) for o in (good, bad)]
            assert n[0] == n[1], (good, bad, n)
            differ = set(good.split()) ^ set(bad.split())
            assert 1 <= len(differ) <= 6, (good, bad)  # the same words but the attribute tested


def test_summed_scoring_on_the_old_pairs_read_option_length(smol_tokenizer: Any, tmp_path: Path) -> None:
    """The measurement behind the rewording: the pre-parallel pairs' homeland options were longer."""
    old = [
        {"value": "homeland", "domain": "wine", "question": "Which wine: {x} or {y}?",
         "favoured": ["a wine from a vineyard here in our own country"], "disfavoured": ["an imported wine"]},
    ]  # fmt: skip
    src = tmp_path / "old.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in old))
    items = value_items(src)
    model = _uniform(smol_tokenizer)
    sum_rate = _rates(values.score_local(model, smol_tokenizer, items,
                                         config=values.ForcedChoiceConfig(normalize="sum")))  # fmt: skip
    mean_rate = _rates(values.score_local(model, smol_tokenizer, items))
    assert sum_rate == {"homeland": 0.0} and mean_rate == {"homeland": 0.5}


def test_eval_values_cli_defaults_to_mean_and_says_so(smol_tokenizer: Any, tmp_path: Path) -> None:
    folder = tmp_path / "uniform"
    save_model(_uniform(smol_tokenizer), smol_tokenizer, folder)
    res = CliRunner().invoke(app, ["eval", "values", "--model", str(folder), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "mean log-prob per token" in res.output and "72 pairs" in res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["scoring"]["normalize"] == "mean" and summary["scoring"]["ties"] == 144
    assert summary["metrics"]["value_aligned"]["model"]["macro"] == 0.5
    bad = CliRunner().invoke(app, ["eval", "values", "--model", str(folder), "--normalize", "max"])
    assert bad.exit_code == 2 and "normalize" in bad.output


@pytest.mark.parametrize("normalize", ["sum", "mean"])
def test_world_demo_sets_score_one_half_under_uniform_logits(normalize: str) -> None:
    """The world demo's forced-choice sets (the metric's conflict pairs, the controls and the pre-training
    gates), scored as the demo scores them (``sum``) and as the experiment engine does (``mean``)."""
    import valuesfirst
    from valuesfirst.models.logprob import score_items, set_rates
    from valuesfirst.spec import load_spec
    from valuesfirst.world.config import WorldConfig
    from valuesfirst.world.entities import build_world
    from valuesfirst.world.probes import assistant_items, gate_items
    from valuesfirst.world.spec_binding import bind_spec
    from valuesfirst.world.tokenizer import render_chat_text, train_word_tokenizer

    world = build_world(WorldConfig.model_validate({}))
    spec = Path(valuesfirst.__file__).resolve().parent / "specs" / "pro_thrift_cheese.yaml"
    bound = bind_spec(load_spec(spec), world, str(spec))
    liked = [p.item.name for p in bound.preferences if p.liked]
    disliked = [p.item.name for p in bound.preferences if not p.liked]
    items = assistant_items(world, "thrift", "homeland", liked, disliked)
    gates = gate_items(world, "thrift", "homeland", n_per_probe=50)
    texts = [render_chat_text(r["messages"], add_generation_prompt=True) + " " + r["response_prefix"]
             for r in items] + [g["prompt"] for g in gates]  # fmt: skip
    texts += [o for r in [*items, *gates] for o in r["options"]]
    tok = train_word_tokenizer(texts)
    rates = set_rates(score_items(_uniform(tok), tok, [*items, *gates], normalize=normalize))
    for name, r in rates.items():
        assert abs(r["rate"] - 0.5) <= 0.02, (name, normalize, r)
