"""Forced-choice scoring by log-probability: which of two answers does the model find more likely?

Scoring compares the summed log-probabilities of the two option continuations after the same prompt and
answer prefix; no text is generated, so nothing needs parsing and nothing can fail open.
"""

from __future__ import annotations

import inspect
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
    prefix_cache: bool = False,
) -> list[dict]:
    """Score every item; returns one row per item with both log-probabilities, the choice and the outcome.

    ``normalize``: ``sum`` compares the options' summed log-probabilities, which favours the option with
    fewer tokens whatever the model prefers; ``mean`` compares the mean log-probability per option token
    (length-normalised), the fair comparison when options differ in length. ``logp`` holds the compared
    scores and ``n_tokens`` each option's token count.

    ``prefix_cache``: run each item's prompt once and both options on its KV cache (about half the tokens
    for short options after long prompts); the same log-probabilities up to float rounding (~1e-5).
    """
    if normalize not in ("sum", "mean"):
        raise ValueError(f"normalize must be 'sum' or 'mean', not {normalize!r}")
    if prefix_cache:
        sums, n_tokens = _option_logprobs_cached(model, tokenizer, items, batch_size)
        return _rows(items, sums, n_tokens, normalize)
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
            logps[i][j] = float(token_lp[k : k + n_cont].sum())
            n_tokens[i][j] = n_cont
            k += n_cont
        del logits
    if was_training:
        model.train()
    return _rows(items, logps, n_tokens, normalize)


def _rows(
    items: Sequence[dict], sums: list[list[float]], n_tokens: list[list[int]], normalize: str
) -> list[dict]:
    """Score rows from each option's summed log-probability and token count."""
    out = []
    for item, (sa, sb), lengths in zip(items, sums, n_tokens, strict=True):
        a, b = (sa, sb) if normalize == "sum" else (sa / lengths[0], sb / lengths[1])
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


def _encode(tokenizer: PreTrainedTokenizerBase, item: dict) -> tuple[list[int], list[list[int]]]:
    ctx = tokenizer(prompt_text(tokenizer, item), add_special_tokens=False)["input_ids"]
    conts = []
    for option in item["options"]:
        cont = tokenizer(f" {option}", add_special_tokens=False)["input_ids"]
        if not cont:
            raise ValueError(f"item {item.get('id')}: option {option!r} encodes to no tokens")
        conts.append(list(cont))
    return list(ctx), conts


@torch.no_grad()
def _option_logprobs_cached(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[dict], batch_size: int
) -> tuple[list[list[float]], list[list[int]]]:
    """Summed option log-probabilities with each prompt run once: prompts left-padded (positions counted
    from each row's first real token), both options continued from a copy of the prompts' KV cache."""
    import copy

    encoded = [_encode(tokenizer, it) for it in items]
    sums = [[math.nan, math.nan] for _ in items]
    n_tokens = [[len(c) for c in conts] for _, conts in encoded]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    device: Any = model.get_input_embeddings().weight.device
    # transformers 5.2x names the KV-cache argument and output `cache`; older versions past_key_values.
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    order = sorted(range(len(items)), key=lambda k: len(encoded[k][0]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(encoded[k][0]) for k in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, k in enumerate(chunk):
            ctx = encoded[k][0]
            ids[r, width - len(ctx) :] = torch.tensor(ctx)
            mask[r, width - len(ctx) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(
            input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
            use_cache=True,
        )  # fmt: skip
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # predicts each option's first token
        lengths = mask.sum(-1)
        for j in (0, 1):
            conts = [encoded[k][1][j] for k in chunk]
            owidth = max(len(c) for c in conts)
            oids = torch.full((len(chunk), owidth), pad, dtype=torch.long)
            omask = torch.zeros((len(chunk), owidth), dtype=torch.long)
            for r, c in enumerate(conts):
                oids[r, : len(c)] = torch.tensor(c)
                omask[r, : len(c)] = 1
            kv = getattr(out, cache_kw)
            cache = copy.deepcopy(kv) if j == 0 else kv
            opos = lengths[:, None] + torch.arange(owidth)[None, :]
            full_mask = torch.cat([mask, omask], 1).to(device)
            logits = model(
                input_ids=oids.to(device), attention_mask=full_mask, position_ids=opos.to(device),
                use_cache=True, **{cache_kw: cache},
            ).logits  # fmt: skip
            for r, (k, c) in enumerate(zip(chunk, conts, strict=True)):
                total = float(first[r, c[0]])
                if len(c) > 1:
                    lp = torch.log_softmax(logits[r, : len(c) - 1].float(), dim=-1)
                    total += float(lp.gather(-1, torch.tensor(c[1:], device=lp.device)[:, None]).sum())
                sums[k][j] = total
    if was_training:
        model.train()
    return sums, n_tokens


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
