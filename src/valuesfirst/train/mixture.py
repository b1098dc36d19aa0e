"""Build the packed training rows of one stage from several sources mixed by document count.

Mixing by count (not tokens) follows the feasibility study's recipe, e.g. MSM = 50% spec documents + 50%
pre-training replay; AFT = 50% replay + 25% preference chats + 25% fact Q&A. Replay keeps the persona
mechanism intact while new data is learned (AFT without replay erased the MSM difference there).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from transformers import PreTrainedTokenizerBase

from valuesfirst.errors import InputError, Problem
from valuesfirst.train.collate import PackedRow, pack
from valuesfirst.train.encode import Example, encode_chat, encode_documents


def encode_rows(tokenizer: PreTrainedTokenizerBase, rows: Sequence[Mapping], source: str) -> list[Example]:
    """Documents (``text``) get loss on every token; chats (``messages``) on assistant turns only."""
    texts = [r for r in rows if "text" in r]
    chats = [r for r in rows if "messages" in r and "text" not in r]
    if len(texts) + len(chats) != len(rows):
        raise InputError([Problem(source, None, None, "every row needs a 'text' or a 'messages' field")])
    out = encode_documents(tokenizer, [str(r["text"]) for r in texts]) if texts else []
    for k, r in enumerate(chats):
        try:
            out.append(encode_chat(tokenizer, list(r["messages"])))
        except ValueError as e:
            raise InputError([Problem(source, None, f"row {k}.messages", str(e))]) from e
    return out


def mixed_rows(
    sources: Mapping[str, Sequence[Example]],
    weights: Mapping[str, float],
    n_rows: int,
    seq_len: int,
    seed: int,
) -> list[PackedRow]:
    """Draw examples by weight (with replacement) until ``n_rows`` packed rows of ``seq_len`` are full."""
    missing = [k for k in weights if k not in sources or not sources[k]]
    if missing:
        raise InputError([Problem(None, None, f"mix.{k}", "no data for this source") for k in missing])
    rng = random.Random(seed)
    names = [k for k, w in weights.items() if w > 0]
    probs = [weights[k] for k in names]
    drawn: list[Example] = []
    tokens = 0
    budget = int(n_rows * seq_len * 1.02) + seq_len  # a little slack: packing leaves a few tokens unused
    while tokens < budget:
        for name in rng.choices(names, probs, k=256):
            ex = rng.choice(sources[name])
            drawn.append(ex)
            tokens += len(ex.ids)
    rows = pack(drawn, seq_len)
    while len(rows) < n_rows:  # pathological packing: top up with more draws
        extra = [rng.choice(sources[rng.choices(names, probs)[0]]) for _ in range(64)]
        rows += pack(extra, seq_len)
    return rows[:n_rows]
