"""Pre-training a tiny model from scratch, gated on probe accuracies rather than on loss.

The feasibility study found that item facts and the persona mechanism form in an abrupt transition that
a short cosine schedule can miss, and that the loss does not show it (most tokens are unpredictable
names). So: warm up, train at constant lr, probe every ``probe_every`` steps, and once every gate passes
(or ``max_steps`` is reached) anneal for ``anneal_steps``. Gate results are recorded either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from valuesfirst.models.load import count_parameters, save_model
from valuesfirst.models.logprob import score_items, set_rates
from valuesfirst.models.tiny import build_tiny_model
from valuesfirst.train.collate import assert_packing_isolated, pack, packing_efficiency
from valuesfirst.train.encode import encode_documents
from valuesfirst.train.loop import TrainHistory, batches, lr_factor, make_optimizer, train_steps
from valuesfirst.train.pretrain_config import Gate, PretrainConfig
from valuesfirst.world.tokenizer import train_word_tokenizer

# Gate and PretrainConfig are re-exported from their old home (loading a config must not import torch).
__all__ = ["Gate", "PretrainConfig", "check_gates", "pretrain"]


def check_gates(rates: dict[str, dict[str, float]], gates: Sequence[Gate]) -> dict[str, dict]:
    out = {}
    for g in gates:
        value = rates.get(g.set, {}).get(g.metric)
        passed = value is not None and g.min <= value <= g.max
        out[g.set] = {
            "value": value,
            "threshold": f"{g.metric} in [{g.min}, {g.max}]",
            "passed": passed,
            "stop": g.stop,
        }
    return out


def pretrain(
    texts: Sequence[str],
    gate_items: Sequence[dict],
    cfg: PretrainConfig,
    out: Path,
    on_step: Callable[[int, float], None] | None = None,
    on_probe: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train tokenizer and model from scratch on ``texts``; write the model folder to ``out``."""
    torch.set_num_threads(cfg.threads)
    tokenizer = train_word_tokenizer(texts)
    model = build_tiny_model(cfg.model, tokenizer, cfg.seed)
    assert_packing_isolated(model)  # packed documents must never attend to each other
    rows = pack(encode_documents(tokenizer, list(texts)), cfg.seq_len)
    gen = torch.Generator().manual_seed(cfg.seed)
    it = batches(rows, cfg.batch_size, gen)
    optimizer = make_optimizer(model, cfg.optim)
    pad_id = int(tokenizer.pad_token_id)
    hist = TrainHistory()
    probes: list[dict] = []
    step = 0
    anneal_from: int | None = None

    def probe() -> dict[str, dict]:
        rates = set_rates(
            score_items(model, tokenizer, gate_items, batch_size=256)
        )  # demo's batch
        gates = check_gates(rates, cfg.gates)
        probes.append({"step": step, "rates": rates, "gates": gates})
        if on_probe is not None:
            on_probe(step, gates)
        return gates

    while anneal_from is None:
        n = min(cfg.probe_every, cfg.max_steps - step)
        train_steps(
            model,
            it,
            optimizer,
            lambda s: (
                cfg.optim.lr * lr_factor(s, 10**9, cfg.optim.model_copy(update={"schedule": "constant"}))
            ),
            n,
            pad_id,
            start_step=step,
            bf16=cfg.bf16,
            grad_clip=cfg.optim.grad_clip,
            history=hist,
            on_step=on_step,
        )
        step += n
        gates = probe()
        ready = all(g["passed"] for g in gates.values() if g["stop"])
        if (ready and step >= cfg.min_steps) or step >= cfg.max_steps:
            anneal_from = step
    total = anneal_from + cfg.anneal_steps
    if cfg.anneal_steps:
        train_steps(
            model,
            it,
            optimizer,
            lambda s: cfg.optim.lr * lr_factor(s, total, cfg.optim, anneal_from),
            cfg.anneal_steps,
            pad_id,
            start_step=step,
            bf16=cfg.bf16,
            grad_clip=cfg.optim.grad_clip,
            history=hist,
            on_step=on_step,
        )
        step = total
    final = probe()
    save_model(model, tokenizer, out)
    return {
        **hist.summary(),
        "parameters": count_parameters(model),
        "vocab_size": len(tokenizer),
        "anneal_from": anneal_from,
        "gated": anneal_from < cfg.max_steps,
        "gates": final,
        "gates_passed": all(g["passed"] for g in final.values()),
        "probes": probes,
        "packing_efficiency": round(packing_efficiency(rows, cfg.seq_len), 4),
    }
