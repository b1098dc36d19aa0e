"""Pre-training data-parallel on two CPU ranks (gloo): the same training as one process, up to float
rounding; a failing rank fails the call with its error; the config refuses a batch that does not split."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from valuesfirst.train.pretrain import pretrain
from valuesfirst.train.pretrain_config import PretrainConfig
from valuesfirst.world.entities import build_world
from valuesfirst.world.pretrain_corpus import PretrainCorpus
from valuesfirst.world.probes import gate_items

TINY = {
    "model": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64},
    "batch_size": 8,
    "seq_len": 64,
    "min_steps": 12,
    "max_steps": 12,
    "probe_every": 6,
    "anneal_steps": 4,
}


def _world(small_world_config):  # noqa: ANN001, ANN202
    world = build_world(small_world_config)
    texts = list(PretrainCorpus(world).documents(600, seed=0))
    return [d["text"] for d in texts], gate_items(world, "thrift", "homeland", n_per_probe=20)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow  # two spawned ranks each import torch, transformers and accelerate: 7-20 s on 2 cores
def test_two_ranks_train_the_one_process_model(tmp_path: Path, small_world_config) -> None:  # noqa: ANN001
    texts, gates = _world(small_world_config)
    steps: list[tuple[int, float]] = []
    probes: list[int] = []
    one = pretrain(texts, gates, PretrainConfig(**TINY, threads=1), tmp_path / "one")
    two = pretrain(
        texts,
        gates,
        PretrainConfig(**TINY, threads=1, ranks=2),
        tmp_path / "two",
        on_step=lambda s, loss: steps.append((s, loss)),
        on_probe=lambda s, g: probes.append(s),
    )
    assert two["ranks"] == 2 and one["ranks"] == 1
    # Every step and probe reached the caller, in order, from the rank processes.
    assert [s for s, _ in steps] == list(range(16))
    assert probes == [6, 12, 16]
    assert two["steps"] == one["steps"] == 16
    assert two["loss_last"] < two["loss_first"]
    # Same global batches, same init: the same model up to the rounding of a sum of two half-batch
    # gradients. A rank training on its own data or its own order would be far off after 16 steps.
    w1, w2 = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert w1.keys() == w2.keys()
    for name in w1:
        assert torch.allclose(w1[name], w2[name], atol=2e-4, rtol=1e-3), name
    # Gate probes over split item lists, gathered back in order: the same rates.
    for name, gate in one["gates"].items():
        assert two["gates"][name]["value"] == pytest.approx(gate["value"], abs=0.03), name
    assert abs(two["loss_last"] - one["loss_last"]) < 1e-3


@pytest.mark.slow  # spawns two ranks
def test_a_failing_rank_fails_the_call_with_its_error(tmp_path: Path, small_world_config) -> None:  # noqa: ANN001
    texts, gates = _world(small_world_config)
    broken = [*gates, {**gates[0], "id": "broken", "options": ["", "x"]}]  # an option with no tokens
    with pytest.raises(Exception, match="encodes to no tokens"):
        pretrain(texts, broken, PretrainConfig(**TINY, threads=1, ranks=2), tmp_path / "out")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_ranks_must_split_the_batch() -> None:
    with pytest.raises(ValueError, match="batch_size 10 does not divide by ranks 4"):
        PretrainConfig(batch_size=10, ranks=4)
