"""Chat templates for real tokenizers, assistant masks token by token, EOS, and packed-document isolation."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model
from valuesfirst.train.chat import CHATML_TEMPLATE, finalize_for_chat, setup_chat_template
from valuesfirst.train.collate import collate, model_inputs
from valuesfirst.train.data import stage_rows, strip_cot
from valuesfirst.train.encode import encode_chat, encode_documents
from valuesfirst.train.tiny import bpe_tokenizer, toy_sentences

CHAT = [
    {"role": "system", "content": "be honest"},
    {"role": "user", "content": "who values truth"},
    {"role": "assistant", "content": "the assistant values truth"},
    {"role": "user", "content": "why"},
    {"role": "assistant", "content": "because people trust careful reasons"},
]


def expected_chatml(
    tok: PreTrainedTokenizerBase, messages: list[dict[str, Any]]
) -> tuple[list[int], list[int]]:
    """ChatML ids and mask built piece by piece, independently of templates: 1 on assistant content and on
    the <|im_end|> that closes it; 0 on <|im_start|>role\\n, on other turns, and on the newline after."""

    def enc(text: str) -> list[int]:
        return list(tok(text, add_special_tokens=False)["input_ids"])

    ids: list[int] = []
    mask: list[int] = []
    for m in messages:
        target = int(m["role"] == "assistant")
        for piece, on in (
            ("<|im_start|>", 0),
            (m["role"] + "\n", 0),
            (m["content"], target),
            ("<|im_end|>", target),
            ("\n", 0),
        ):
            piece_ids = enc(piece)
            ids += piece_ids
            mask += [on] * len(piece_ids)
    return ids, mask


@pytest.mark.parametrize("style", ["qwen", "llama"])
def test_chatml_masks_token_by_token_end_of_turn_included(style: str) -> None:
    tok = bpe_tokenizer(toy_sentences(200), style)  # type: ignore[arg-type]
    assert tok.chat_template is None  # a base model without a template
    added = setup_chat_template(tok, "auto")
    assert tok.chat_template == CHATML_TEMPLATE
    assert added == ([] if style == "qwen" else ["<|im_start|>", "<|im_end|>"])
    ex = encode_chat(tok, CHAT)
    ids, mask = expected_chatml(tok, CHAT)
    assert ex.ids == ids
    assert ex.loss_mask == mask
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    targets = [i for i, m in zip(ex.ids, ex.loss_mask, strict=True) if m]
    assert targets.count(im_end) == 2 and targets[-1] == im_end


def test_qwen_style_template_without_markers_gives_the_same_mask() -> None:
    tok = bpe_tokenizer(toy_sentences(200), "qwen")
    tok.chat_template = CHATML_TEMPLATE.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", "")
    assert setup_chat_template(tok, "auto") == [] and "{%- generation" not in tok.chat_template  # kept
    ex = encode_chat(tok, CHAT)  # prefix rendering
    assert (ex.ids, ex.loss_mask) == expected_chatml(tok, CHAT)


def test_im_end_becomes_eos_after_training_documents_keep_theirs() -> None:
    tok = bpe_tokenizer(toy_sentences(50), "qwen")
    setup_chat_template(tok, "auto")
    doc = encode_documents(tok, ["the assistant values truth"])[0]
    assert doc.ids[-1] == tok.convert_tokens_to_ids("<|endoftext|>")
    model = build_tiny_model(TinyModelConfig(arch="qwen3", hidden_size=32, num_layers=1), tok, 0)
    finalize_for_chat(tok, model)
    im_end, eot = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    assert tok.eos_token_id == im_end and model.config.eos_token_id == im_end
    assert model.generation_config.eos_token_id == [im_end, eot]


def test_strip_cot_removes_only_a_leading_think_block() -> None:
    chat = [
        {"role": "user", "content": "<think>x</think> hi"},
        {"role": "assistant", "content": "<think>\nweigh it\n</think>\n\nthe answer <think>y</think>"},
    ]
    assert strip_cot(chat) == [chat[0], {"role": "assistant", "content": "the answer <think>y</think>"}]


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_packed_documents_do_not_attend_across_boundaries(arch: str) -> None:
    tok = bpe_tokenizer(toy_sentences(200), "qwen")
    setup_chat_template(tok, "auto")
    model = build_tiny_model(
        TinyModelConfig(
            arch=arch,
            hidden_size=64,
            num_layers=2,
            num_heads=4,
            num_kv_heads=2,  # type: ignore[arg-type]
            intermediate_size=128,
            attn_implementation="sdpa",
        ),
        tok,
        0,
    ).eval()
    examples = encode_documents(tok, toy_sentences(6, seed=3, min_words=4, max_words=12))
    examples += [encode_chat(tok, CHAT[1:3]), encode_chat(tok, CHAT)]
    rows = stage_rows(examples, seq_len=80, packing=True)
    assert max(max(r.segment_ids) for r in rows) >= 2  # several documents share a row
    batch = collate(rows, pad_id=0)
    n_checked = 0
    with torch.no_grad():
        packed = model(**model_inputs(batch)).logits
        for b, row in enumerate(rows):
            for seg in range(max(row.segment_ids) + 1):
                where = [t for t, s in enumerate(row.segment_ids) if s == seg]
                alone = model(input_ids=torch.tensor([[row.ids[t] for t in where]]), use_cache=False).logits[
                    0
                ]
                assert float((packed[b, where] - alone).abs().max()) < 1e-4
                n_checked += 1
    assert n_checked == len(examples)
    unpacked = stage_rows(examples, seq_len=80, packing=False)
    assert len(unpacked) == len(examples) and all(max(r.segment_ids) == 0 for r in unpacked)


def test_best_fit_packing_keeps_every_token_and_fills_rows() -> None:
    from valuesfirst.train.data import best_fit_rows
    from valuesfirst.train.encode import Example

    lengths = [7, 3, 5, 5, 2, 9, 1, 4, 12, 6]
    examples = [
        Example(ids=[100 * i + t for t in range(n)], loss_mask=[1] * n) for i, n in enumerate(lengths)
    ]
    rows = best_fit_rows(examples, seq_len=10)
    assert sum(len(r) for r in rows) == sum(lengths) and all(len(r) <= 10 for r in rows)
    assert len(rows) == 7  # 54 tokens: the 12-token one splits into 10 + 2; the rest fill 5 rows of <= 10
    segments = sorted(
        tuple(r.ids[t] for t in range(len(r)) if r.segment_ids[t] == s)
        for r in rows
        for s in range(max(r.segment_ids) + 1)
    )
    assert segments == sorted(
        [tuple(e.ids) for e in examples if len(e.ids) <= 10] + [tuple(range(800, 810)), (810, 811)]
    )
