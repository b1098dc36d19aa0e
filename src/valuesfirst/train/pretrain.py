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
from pydantic import BaseModel, ConfigDict, Field

from valuesfirst.models.load import count_parameters, save_model
from valuesfirst.models.logprob import score_items, set_rates
from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model
from valuesfirst.train.collate import assert_packing_isolated, pack, packing_efficiency
from valuesfirst.train.encode import encode_documents
from valuesfirst.train.loop import OptimConfig, TrainHistory, batches, lr_factor, make_optimizer, train_steps
from valuesfirst.world.tokenizer import train_word_tokenizer


class Gate(BaseModel):
    """A probe set whose rate must fall in [min, max]."""

    model_config = ConfigDict(extra="forbid")

    set: str
    min: float = 0.0
    max: float = 1.0
    metric: str = Field("rate", pattern="^(rate|soft)$")
    stop: bool = Field(True, description="whether this gate must pass before annealing starts")


class PretrainConfig(BaseModel):
    """Pre-training from scratch. Defaults: the embedded demo (0.85M-parameter Llama)."""

    model_config = ConfigDict(extra="forbid")

    model: TinyModelConfig = Field(default_factory=TinyModelConfig)
    seed: int = Field(0, description="initialisation and data-order seed (default 0)")
    batch_size: int = Field(32, ge=1, description="packed rows per step (default 32)")
    seq_len: int = Field(128, ge=8, description="tokens per row (default 128)")
    optim: OptimConfig = Field(
        default_factory=lambda: OptimConfig(lr=2e-3, warmup_steps=100, min_lr_ratio=0.1)
    )
    min_steps: int = Field(1000, ge=0, description="no anneal before this step (default 1000)")
    max_steps: int = Field(2500, ge=1, description="anneal starts here at the latest (default 2500)")
    probe_every: int = Field(250, ge=1, description="steps between gate probes (default 250)")
    anneal_steps: int = Field(
        300, ge=0, description="cosine decay to min_lr_ratio after gating (default 300)"
    )
    # Facts and the persona mechanism gate the anneal. The two "no preference" gates are recorded but do
    # not block it: at constant lr they wander (0.30-0.60 seen), and waiting longer made them worse.
    gates: list[Gate] = Field(
        default_factory=lambda: [
            Gate(set="facts", min=0.95),
            Gate(set="bio_only", min=0.9),
            Gate(set="no_value", min=0.4, max=0.6, metric="soft", stop=False),
            Gate(set="base_assistant", min=0.3, max=0.7, metric="soft", stop=False),
        ]
    )
    bf16: bool = Field(False, description="bf16 autocast (default false; see StageTrainConfig.bf16)")
    threads: int = Field(2, ge=1, description="torch CPU threads (default 2)")


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
