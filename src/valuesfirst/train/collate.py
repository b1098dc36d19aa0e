"""From examples to training batches: packing, padding, and the summed loss.

Shared by the embedded demo and real models. The conventions that the rest of the trainer relies on:

* An :class:`~valuesfirst.train.encode.Example` (made by :mod:`valuesfirst.train.encode`) carries a
  ``loss_mask`` on the tokens themselves: 1 where a token is a target, predicted from the tokens before it.
* :func:`pack` turns examples into rows whose ``labels`` are already aligned to positions
  (``labels[t]`` is the token to predict at ``t``). Never hand them to a Hugging Face model's ``labels=``
  argument, which would shift them a second time; use :func:`loss_from_logits`.
* Packed segments never attend to each other. See :func:`model_inputs` for how, and call
  :func:`assert_packing_isolated` once per model before training on packed batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import torch
import torch.nn.functional as F

from valuesfirst.train.encode import Example

IGNORE_INDEX = -100


@dataclass
class PackedRow:
    """One row of packed segments.

    position_ids restart at 0 in every segment; segment_ids number the segments 0, 1, ... within the row;
    labels[t] = ids[t+1] when t+1 is in the same segment and is a target, else -100.
    """

    ids: list[int]
    position_ids: list[int]
    labels: list[int]
    segment_ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)


def _chunks(example: Example, seq_len: int) -> list[tuple[list[int], list[int]]]:
    return [
        (example.ids[start : start + seq_len], example.loss_mask[start : start + seq_len])
        for start in range(0, len(example.ids), seq_len)
    ]


def pack(examples: Sequence[Example], seq_len: int) -> list[PackedRow]:
    """Greedily pack examples, in order, into rows of at most ``seq_len`` tokens.

    An example that does not fit in the current row starts a new row; one longer than ``seq_len`` is split
    into ``seq_len``-token chunks, each its own segment. No segment ever crosses a row.
    """
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 to hold a prediction, got {seq_len}")
    rows: list[PackedRow] = []
    current = PackedRow([], [], [], [])
    n_segments = 0
    for example in examples:
        for ids, mask in _chunks(example, seq_len):
            if len(current) + len(ids) > seq_len:
                rows.append(current)
                current, n_segments = PackedRow([], [], [], []), 0
            current.ids.extend(ids)
            current.position_ids.extend(range(len(ids)))
            current.labels.extend(
                [ids[t + 1] if mask[t + 1] else IGNORE_INDEX for t in range(len(ids) - 1)] + [IGNORE_INDEX]
            )
            current.segment_ids.extend([n_segments] * len(ids))
            n_segments += 1
    if current.ids:
        rows.append(current)
    return rows


def packing_efficiency(rows: Sequence[PackedRow], seq_len: int) -> float:
    """Fraction of the ``len(rows) * seq_len`` token slots that hold real (non-pad) tokens."""
    if not rows:
        raise ValueError("no rows: packing efficiency is undefined")
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    return sum(len(row) for row in rows) / (len(rows) * seq_len)


class Batch(TypedDict):
    """A padded batch. Tensors are LongTensor [B, T]; pads carry pad_id and label -100."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    # Always None: segment isolation comes from position_ids (see model_inputs). A 2D mask here would
    # switch that off and let packed documents attend to each other.
    attention_mask: torch.Tensor | None
    n_target_tokens: int
    n_real_tokens: int


def collate(rows: Sequence[PackedRow], pad_id: int, seq_len: int | None = None) -> Batch:
    """Pad rows to the longest row (or ``seq_len``) and stack them into a :class:`Batch`.

    The pad region is its own segment (positions restart at 0), so no real token attends to a pad and the
    pads form a harmless block of their own.
    """
    if not rows:
        raise ValueError("cannot collate an empty list of rows")
    longest = max(len(row) for row in rows)
    width = longest if seq_len is None else seq_len
    if longest > width:
        raise ValueError(f"a row has {longest} tokens, more than seq_len={seq_len}")
    input_ids, position_ids, labels = [], [], []
    for row in rows:
        n_pad = width - len(row)
        input_ids.append(row.ids + [pad_id] * n_pad)
        position_ids.append(row.position_ids + list(range(n_pad)))
        labels.append(row.labels + [IGNORE_INDEX] * n_pad)
    label_tensor = torch.tensor(labels, dtype=torch.long)
    return Batch(
        input_ids=torch.tensor(input_ids, dtype=torch.long),
        position_ids=torch.tensor(position_ids, dtype=torch.long),
        labels=label_tensor,
        attention_mask=None,
        n_target_tokens=int((label_tensor != IGNORE_INDEX).sum()),
        n_real_tokens=sum(len(row) for row in rows),
    )


# Why position_ids and no attention mask: transformers (>= 4.54, checked on 5.x) detects packed rows from
# position ids that restart at 0 and builds a block-diagonal causal mask itself, for eager, sdpa, flex and
# flash attention alike; verified on CPU for Llama and Qwen3 (eager and sdpa) in tests/test_collate.py.
# An explicit 4D mask would have to match the attention implementation (eager *adds* a 4D mask, so a
# boolean one silently masks nothing) and the model dtype, and flash attention cannot take one.
# The detection runs only when attention_mask is None AND there is no KV cache; with the config's default
# use_cache=True the model creates an empty cache, skips the detection, and packed documents attend to
# each other silently. Hence use_cache=False here, and assert_packing_isolated as a guard.
def model_inputs(batch: Batch, device: torch.device | str | None = None) -> dict[str, Any]:
    """The keyword arguments for ``model(**...)`` on a packed batch; labels deliberately left out."""
    return {
        "input_ids": batch["input_ids"].to(device),
        "position_ids": batch["position_ids"].to(device),
        "attention_mask": None,
        "use_cache": False,
    }


def loss_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Cross-entropy summed over positions whose label is not -100, and the number of such positions.

    ``labels`` are already aligned to positions (labels[t] is the target at t): no shift happens here.
    Computed in float32 whatever the logits' dtype. Divide the sum by the targets of the whole optimizer
    step, not of one micro-batch, so every token weighs the same.
    """
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    n_targets = int((labels != IGNORE_INDEX).sum())
    loss_sum = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        labels.reshape(-1).to(logits.device),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss_sum, n_targets


def _default_atol(dtype: torch.dtype) -> float:
    return 1e-3 if dtype == torch.float32 else 5e-2


@torch.no_grad()
def assert_packing_isolated(model: torch.nn.Module, atol: float | None = None, seed: int = 0) -> None:
    """Raise RuntimeError unless ``model`` run through :func:`model_inputs` keeps packed segments apart.

    Packs two random sequences into one padded row and compares each segment's logits with the logits of
    that sequence run alone. Catches transformers versions or attention implementations (and remote-code
    models) that ignore packed position ids. Call once per model before training on packed batches.
    """
    was_training = model.training
    model.eval()
    try:
        embeddings = model.get_input_embeddings()  # type: ignore[operator]
        vocab = int(embeddings.weight.shape[0])
        device = embeddings.weight.device
        tol = _default_atol(embeddings.weight.dtype) if atol is None else atol
        generator = torch.Generator().manual_seed(seed)
        lengths = (6, 9)
        docs = [torch.randint(0, vocab, (n,), generator=generator).tolist() for n in lengths]
        rows = pack([Example(ids=d, loss_mask=[1] * len(d)) for d in docs], seq_len=sum(lengths) + 1)
        batch = collate(rows, pad_id=0, seq_len=sum(lengths) + 1)
        packed = model(**model_inputs(batch, device)).logits[0].float()
        half = embeddings.weight.dtype != torch.float32 and atol is None
        alone = [
            model(input_ids=torch.tensor([d], device=device), use_cache=False).logits[0].float() for d in docs
        ]
        if not half:
            start = 0
            for doc, ref in zip(docs, alone, strict=True):
                diff = float((packed[start : start + len(doc)] - ref).abs().max())
                if diff > tol:
                    raise RuntimeError(
                        f"packed segments are not isolated: logits differ by {diff:.3g} (> {tol:.3g}) from "
                        "the same sequence run alone; this model/attention implementation ignores packed "
                        "position ids"
                    )
                start += len(doc)
            return
        # bf16: rounding alone moves a deep model's logits by a few percent (other shapes, other kernels),
        # more than any fixed tolerance. So measure that noise on the first segment (which cannot leak) and
        # compare the second segment's error with it and with what real leakage (the segment attending to
        # the one before it) does to the same logits: isolated, it stays at the noise; leaking, near the leak.
        n0 = len(docs[0])
        noise = float((packed[:n0] - alone[0]).abs().mean())
        diff = float((packed[n0 : n0 + len(docs[1])] - alone[1]).abs().mean())
        joined = torch.tensor([docs[0] + docs[1]], device=device)
        leak = float(
            (model(input_ids=joined, use_cache=False).logits[0, n0:].float() - alone[1]).abs().mean()
        )
        if diff > max(3 * noise, leak / 2, tol):
            raise RuntimeError(
                f"packed segments are not isolated: the second segment's logits differ by {diff:.3g} on "
                f"average from the sequence run alone (bf16 noise {noise:.3g}, leakage {leak:.3g}); this "
                "model/attention implementation ignores packed position ids"
            )
    finally:
        model.train(was_training)
