"""Capability regression: held-out perplexity and a small multiple-choice set, scored by log-probability.

A training condition that breaks the model (MSM on an instruct model is known to cause incoherence,
which the paper's IT mix repairs) shows up here before it confounds the value and safety numbers.
Both measures read only log-probabilities, so they work on any local causal LM, including the tiny
from-scratch models (where the shipped English data measures little beyond "did training diverge").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.evals.scoring import score_row
from valuesfirst.jsonl import read_jsonl

METRIC = "mc_correct"


def shipped(name: str) -> Path:
    return Path(str(resources.files("valuesfirst") / "evals" / "data" / name))


def load_mc(path: Path) -> list[dict[str, Any]]:
    rows = read_jsonl(path, required=("id", "question", "choices", "answer"))
    problems = []
    for line, r in enumerate(rows, start=1):
        if not isinstance(r["choices"], list) or len(r["choices"]) < 2:
            problems.append(Problem(str(path), line, "choices", "must list at least two choices"))
        elif not isinstance(r["answer"], int) or not 0 <= r["answer"] < len(r["choices"]):
            problems.append(Problem(str(path), line, "answer", "must be the index of a choice"))
    if problems:
        raise InputError(problems)
    return rows


def _continuation_logprobs(
    model: Any, tokenizer: Any, context: str, conts: Sequence[str]
) -> list[tuple[float, int]]:
    """(summed log-prob, token count) of each continuation after ``context``."""
    import torch

    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    out = []
    with torch.no_grad():
        for c in conts:
            ids = tokenizer(c, add_special_tokens=False)["input_ids"]
            if not ids:
                raise ValueError(f"continuation {c!r} encodes to no tokens")
            seq = torch.tensor([list(ctx) + list(ids)])
            logits = model(input_ids=seq, use_cache=False).logits.float()[0, :-1]
            lp = torch.log_softmax(logits, -1).gather(-1, seq[0, 1:].unsqueeze(-1)).squeeze(-1)
            out.append((float(lp[len(ctx) - 1 :].sum()), len(ids)))
    return out


def score_mc(model: Any, tokenizer: Any, items: Sequence[dict[str, Any]], condition: str | None = None,
             seed: int | None = None) -> list[dict]:  # fmt: skip
    """Pick the choice with the highest per-token log-probability (length-normalized, so long answers are
    not penalized for their length); one score row per question."""
    model.eval()
    rows = []
    for it in items:
        context = f"Question: {it['question']}\nAnswer:"
        scores = _continuation_logprobs(model, tokenizer, context, [f" {c}" for c in it["choices"]])
        norm = [lp / n for lp, n in scores]
        choice = max(range(len(norm)), key=norm.__getitem__)
        t = SimpleNamespace(id=it["id"], eval="capability", cell=it.get("subject", "mc"), unit=it["id"],
                            condition=condition, seed=seed, sample=0)  # fmt: skip
        rows.append(
            score_row(t, {METRIC: float(choice == it["answer"])}, {}, choice=choice, logp_per_token=norm)
        )
    return rows


def perplexity(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int = 512) -> dict[str, float]:
    """Token-weighted perplexity over ``texts`` (each truncated to ``max_length`` tokens)."""
    import torch

    model.eval()
    nll, n = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
            if len(ids) < 2:
                continue
            seq = torch.tensor([ids])
            logits = model(input_ids=seq, use_cache=False).logits.float()[0, :-1]
            lp = torch.log_softmax(logits, -1).gather(-1, seq[0, 1:].unsqueeze(-1))
            nll -= float(lp.sum())
            n += len(ids) - 1
    if n == 0:
        raise ValueError("perplexity: no text with at least two tokens")
    return {"perplexity": math.exp(nll / n), "nll_per_token": nll / n, "tokens": float(n)}
