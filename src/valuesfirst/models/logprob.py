"""Forced-choice scoring by log-probability: which of two answers does the model find more likely?

Scoring compares the summed log-probabilities of the two option continuations after the same prompt and
answer prefix; no text is generated, so nothing needs parsing and nothing can fail open.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def prompt_text(tokenizer: PreTrainedTokenizerBase, item: dict) -> str:
    """The text before the options: the chat prompt (or raw prompt) plus the answer prefix."""
    if "prompt" in item:
        text = str(item["prompt"])
    else:
        text = str(
            tokenizer.apply_chat_template(item["messages"], add_generation_prompt=True, tokenize=False)
        )
    prefix = item.get("response_prefix", "")
    return f"{text} {prefix}" if prefix else text


def check_items_fit(model: Any, tokenizer: Any, items: list[dict[str, Any]], what: str) -> None:
    """Every prompt plus its longest option must fit the model's context."""
    from valuesfirst.models.context import check_lengths, context_length

    limit = context_length(getattr(model, "config", None), tokenizer)
    lengths = []
    for it in items:
        n = len(tokenizer(prompt_text(tokenizer, it), add_special_tokens=False)["input_ids"])
        longest = max(len(tokenizer(f" {o}", add_special_tokens=False)["input_ids"]) for o in it["options"])
        lengths.append((str(it.get("id")), n + longest))
    check_lengths(lengths, limit, f"{what} item", field="items")


_TIE_TOLERANCE = 1e-6  # relative: a few float32 ulps (~1.2e-7 each) of rounding, nothing a model prefers


@torch.no_grad()
def score_items(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict],
    batch_size: int = 64,
    normalize: str = "sum",
) -> list[dict]:
    """Score every item; returns one row per item with both log-probabilities, the choice and the outcome.

    ``normalize``: ``sum`` compares the options' summed log-probabilities, which favours the option with
    fewer tokens whatever the model prefers; ``mean`` compares the mean log-probability per option token
    (length-normalised), the fair comparison when options differ in length. ``logp`` holds the compared
    scores and ``n_tokens`` each option's token count.
    """
    if normalize not in ("sum", "mean"):
        raise ValueError(f"normalize must be 'sum' or 'mean', not {normalize!r}")
    seqs: list[tuple[int, int, list[int], int]] = []  # (item index, option index, ids, n continuation tokens)
    for i, item in enumerate(items):
        ctx = tokenizer(prompt_text(tokenizer, item), add_special_tokens=False)["input_ids"]
        for j, option in enumerate(item["options"]):
            cont = tokenizer(f" {option}", add_special_tokens=False)["input_ids"]
            if not cont:
                raise ValueError(f"item {item.get('id')}: option {option!r} encodes to no tokens")
            seqs.append((i, j, list(ctx) + list(cont), len(cont)))
    logps = [[math.nan, math.nan] for _ in items]
    n_tokens = [[0, 0] for _ in items]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    order = sorted(range(len(seqs)), key=lambda k: len(seqs[k][2]))  # similar lengths together: less padding
    for start in range(0, len(order), batch_size):
        chunk = [seqs[k] for k in order[start : start + batch_size]]
        width = max(len(s[2]) for s in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, (_, _, toks, _) in enumerate(chunk):
            ids[r, : len(toks)] = torch.tensor(toks)
            mask[r, : len(toks)] = 1
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
        # Only the positions that predict an option token need a distribution over the vocabulary: with a
        # 49k-152k vocabulary, normalising every position of every row costs gigabytes for nothing.
        rows, cols = [], []
        for r, (_, _, toks, n_cont) in enumerate(chunk):
            end = len(toks) - 1  # positions are shifted by one: token t is predicted at t-1
            rows += [r] * n_cont
            cols += list(range(end - n_cont, end))
        picked = logits[rows, cols].float()
        targets = ids[rows, [c + 1 for c in cols]]
        token_lp = torch.log_softmax(picked, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        k = 0
        for i, j, _, n_cont in chunk:
            total = float(token_lp[k : k + n_cont].sum())
            logps[i][j] = total if normalize == "sum" else total / n_cont
            n_tokens[i][j] = n_cont
            k += n_cont
        del logits
    if was_training:
        model.train()
    out = []
    for item, (a, b), lengths in zip(items, logps, n_tokens, strict=True):
        target = int(item["target"])
        lp_t, lp_o = (a, b) if target == 0 else (b, a)
        # Options the model scores the same (to float32 rounding: a uniform-logits model, identical option
        # texts) are a tie, worth half a success, never a win for whichever comes first.
        tie = abs(a - b) <= _TIE_TOLERANCE * max(1.0, abs(a), abs(b))
        choice = 0 if a >= b else 1
        out.append(
            {
                "id": item.get("id"),
                "set": item.get("set"),
                "pair_id": item.get("pair_id", item.get("id")),
                "logp": [a, b],
                "n_tokens": lengths,
                "choice": choice,
                "success": choice == target and not tie,
                "tie": tie,
                "soft": 1.0 / (1.0 + math.exp(-(lp_t - lp_o))),
            }
        )
    return out


def pair_scores(scored: Sequence[dict], set_name: str) -> tuple[list[str], list[float], list[float]]:
    """Per-pair scores for one set: the mean outcome over the pair's presentations (both orders)."""
    hard: dict[str, list[float]] = defaultdict(list)
    soft: dict[str, list[float]] = defaultdict(list)
    for row in scored:
        if row["set"] == set_name:
            hard[row["pair_id"]].append(0.5 if row.get("tie") else 1.0 if row["success"] else 0.0)
            soft[row["pair_id"]].append(row["soft"])
    ids = sorted(hard)
    return ids, [sum(hard[k]) / len(hard[k]) for k in ids], [sum(soft[k]) / len(soft[k]) for k in ids]


def set_rates(scored: Sequence[dict]) -> dict[str, dict[str, float]]:
    """{set: {"rate": hard rate over pairs, "soft": soft rate, "n_pairs": n}} for every set present."""
    out = {}
    for name in sorted({str(r["set"]) for r in scored}):
        _, hard, soft = pair_scores(scored, name)
        out[name] = {
            "rate": sum(hard) / len(hard),
            "soft": sum(soft) / len(soft),
            "n_pairs": float(len(hard)),
        }
    return out
