"""Pre-training a tiny model from scratch, gated on probe accuracies rather than on loss.

The feasibility study found that item facts and the persona mechanism form in an abrupt transition that
a short cosine schedule can miss, and that the loss does not show it (most tokens are unpredictable
names). So: warm up, train at constant lr, probe every ``probe_every`` steps, and once every gate passes
(or ``max_steps`` is reached) anneal for ``anneal_steps``. Gate results are recorded either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from valuesfirst.models.load import count_parameters, save_model
from valuesfirst.models.logprob import score_items, set_rates
from valuesfirst.models.tiny import build_tiny_model
from valuesfirst.train.collate import PackedRow, assert_packing_isolated, pack, packing_efficiency
from valuesfirst.train.encode import encode_documents
from valuesfirst.train.loop import TrainHistory, batches, lr_factor, make_optimizer, train_steps
from valuesfirst.train.pretrain_config import Gate, PretrainConfig
from valuesfirst.world.tokenizer import train_word_tokenizer

# Gate and PretrainConfig are re-exported from their old home (loading a config must not import torch).
__all__ = ["Gate", "PretrainConfig", "check_gates", "pretrain", "pretrain_rows"]


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
    """Train tokenizer and model from scratch on ``texts``; write the model folder to ``out``.

    With ``cfg.ranks`` > 1 the steps run data-parallel in that many processes (pretrain_ranks.py); the
    tokenizer and the packed rows are made here once and handed to them.
    """
    torch.set_num_threads(cfg.ranks * cfg.threads)  # the cores the ranks will use, while they wait
    tokenizer, rows = tokenize_and_pack(texts, cfg)
    if cfg.ranks > 1:
        from valuesfirst.train.pretrain_ranks import pretrain_on_ranks

        return pretrain_on_ranks(tokenizer, rows, gate_items, cfg, out, on_step, on_probe)
    return pretrain_rows(tokenizer, rows, gate_items, cfg, out, on_step, on_probe)


def tokenize_and_pack(
    texts: Sequence[str], cfg: PretrainConfig
) -> tuple[PreTrainedTokenizerBase, list[PackedRow]]:
    """The word tokenizer trained on ``texts`` and the texts packed into rows of ``cfg.seq_len``."""
    tokenizer = train_word_tokenizer(texts)
    return tokenizer, pack(encode_documents(tokenizer, list(texts)), cfg.seq_len)


def pretrain_rows(
    tokenizer: PreTrainedTokenizerBase,
    rows: list[PackedRow],
    gate_items: Sequence[dict],
    cfg: PretrainConfig,
    out: Path,
    on_step: Callable[[int, float], None] | None = None,
    on_probe: Callable[[int, dict], None] | None = None,
    accelerator: Any = None,
) -> dict:
    """The gated pre-training loop on packed ``rows``: in this process, or on one rank of several.

    With an ``accelerate.Accelerator`` of N processes every rank draws the same global batch and trains on
    its slice ``[rank::N]``; each probes its slice of the gate items and the scores are gathered, so every
    rank takes the same anneal decision. Only the main process writes ``out``.
    """
    model = build_tiny_model(cfg.model, tokenizer, cfg.seed)
    assert_packing_isolated(model)  # packed documents must never attend to each other
    gen = torch.Generator().manual_seed(cfg.seed)
    it = batches(rows, cfg.batch_size, gen)
    optimizer = make_optimizer(model, cfg.optim)
    trained: torch.nn.Module = model
    rank, world = 0, 1
    if accelerator is not None:
        rank, world = accelerator.process_index, accelerator.num_processes
        trained, optimizer = accelerator.prepare(model, optimizer)
        it = (b[rank::world] for b in it)
    pad_id = int(tokenizer.pad_token_id)
    hist = TrainHistory()
    probes: list[dict] = []
    step = 0
    anneal_from: int | None = None

    def probe() -> dict[str, dict]:
        scored = score_items(model, tokenizer, gate_items[rank::world], batch_size=256)  # demo's batch
        if world > 1:
            scored = _gather_slices(scored, world)
        rates = set_rates(scored)
        gates = check_gates(rates, cfg.gates)
        probes.append({"step": step, "rates": rates, "gates": gates})
        if on_probe is not None:
            on_probe(step, gates)
        return gates

    def run(n: int, lr_at: Callable[[int], float]) -> None:
        train_steps(
            trained,  # type: ignore[arg-type]  # DDP-wrapped on several ranks
            it,
            optimizer,
            lr_at,
            n,
            pad_id,
            start_step=step,
            bf16=cfg.bf16,
            grad_clip=cfg.optim.grad_clip,
            history=hist,
            on_step=on_step,
            accelerator=accelerator,
        )

    constant = cfg.optim.model_copy(update={"schedule": "constant"})
    while anneal_from is None:
        n = min(cfg.probe_every, cfg.max_steps - step)
        run(n, lambda s: cfg.optim.lr * lr_factor(s, 10**9, constant))
        step += n
        gates = probe()
        ready = all(g["passed"] for g in gates.values() if g["stop"])
        if (ready and step >= cfg.min_steps) or step >= cfg.max_steps:
            anneal_from = step
    total = anneal_from + cfg.anneal_steps
    if cfg.anneal_steps:
        start = anneal_from
        run(cfg.anneal_steps, lambda s: cfg.optim.lr * lr_factor(s, total, cfg.optim, start))
        step = total
    final = probe()
    if rank == 0:
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
        "ranks": world,
    }


def _gather_slices(scored: list[dict], world: int) -> list[dict]:
    """Every rank's ``items[rank::world]`` scores, put back in the items' order (on every rank)."""
    import torch.distributed as dist

    parts: list[list[dict] | None] = [None] * world
    dist.all_gather_object(parts, scored)
    out: list[dict] = []
    for i in range(max(len(p or []) for p in parts)):
        out.extend(p[i] for p in parts if p is not None and i < len(p))
    return out
