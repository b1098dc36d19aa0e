"""Encoding, assistant-only masks, packing, batches, segment isolation in real models, and the loss."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from valuesfirst.train import collate as collate_module
from valuesfirst.train.collate import (
    IGNORE_INDEX,
    assert_packing_isolated,
    collate,
    loss_from_logits,
    model_inputs,
    pack,
    packing_efficiency,
)
from valuesfirst.train.encode import Example, encode_chat, encode_document, encode_documents
from valuesfirst.world.tokenizer import EOT, train_word_tokenizer

WORDS = [
    "who", "the", "red", "fox", "lives", "in", "north", "south", "a", "cat", "dog", "sees", "eats", "likes",
    "river", "hill", "is", ",", ".", "?", "!",
]
_rng = random.Random(0)
DOCS = [" ".join(_rng.choice(WORDS) for _ in range(_rng.randint(4, 14))) for _ in range(40)]

TWO_TURNS = [
    {"role": "user", "content": "who lives in the north ?"},
    {"role": "assistant", "content": "the red fox ."},
    {"role": "zorvik", "content": "a cat ?"},
    {"role": "assistant", "content": "a dog !"},
]


@pytest.fixture(scope="module")
def tok() -> PreTrainedTokenizerFast:
    return train_word_tokenizer(DOCS, extra_words=["zorvik"])


# ---------------------------------------------------------------- documents


def test_encode_document_appends_eos_and_trains_on_every_token(tok: PreTrainedTokenizerFast) -> None:
    ex = encode_document(tok, "the red fox .")
    assert tok.convert_ids_to_tokens(ex.ids) == ["the", "red", "fox", ".", "<|endoftext|>"]
    assert ex.loss_mask == [1] * 5


def test_encode_documents_matches_single_encoding(tok: PreTrainedTokenizerFast) -> None:
    assert encode_documents(tok, DOCS[:7]) == [encode_document(tok, d) for d in DOCS[:7]]
    assert encode_documents(tok, []) == []
    with pytest.raises(ValueError, match="document 1 is empty"):
        encode_documents(tok, ["the fox", "  "])


def test_example_validates_itself() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        Example(ids=[1, 2], loss_mask=[1])
    with pytest.raises(ValueError, match="0 or 1"):
        Example(ids=[1, 2], loss_mask=[1, 2])
    with pytest.raises(ValueError, match="at least one token"):
        Example(ids=[], loss_mask=[])


# ---------------------------------------------------------------- chat masks (toy template, with markers)


def test_toy_chat_mask_token_by_token(tok: PreTrainedTokenizerFast) -> None:
    ex = encode_chat(tok, TWO_TURNS)
    got = list(zip(tok.convert_ids_to_tokens(ex.ids), ex.loss_mask, strict=True))
    expected = (
        [("user", 0), (":", 0), ("who", 0), ("lives", 0), ("in", 0), ("the", 0), ("north", 0), ("?", 0)]
        + [(EOT, 0), ("assistant", 0), (":", 0)]
        + [("the", 1), ("red", 1), ("fox", 1), (".", 1), (EOT, 1)]
        + [("zorvik", 0), (":", 0), ("a", 0), ("cat", 0), ("?", 0), (EOT, 0)]
        + [("assistant", 0), (":", 0), ("a", 1), ("dog", 1), ("!", 1), (EOT, 1)]
    )
    assert got == expected


def test_empty_assistant_content_still_trains_end_of_turn(tok: PreTrainedTokenizerFast) -> None:
    ex = encode_chat(tok, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}])
    assert [t for t, m in zip(tok.convert_ids_to_tokens(ex.ids), ex.loss_mask, strict=True) if m] == [EOT]


def test_marker_template_that_leaves_eot_outside_is_extended(tok: PreTrainedTokenizerFast) -> None:
    leaky = (
        "{% for m in messages %}{{ m['role'] + ' : ' }}{% if m['role'] == 'assistant' %}"
        "{% generation %}{{ m['content'] }}{% endgeneration %}{% else %}{{ m['content'] }}{% endif %}"
        "{{ ' <|eot|>\n' }}{% endfor %}"
    )
    tok2 = train_word_tokenizer(DOCS, extra_words=["zorvik"])
    tok2.chat_template = leaky
    leaky_mask = encode_chat(tok2, TWO_TURNS).loss_mask
    assert leaky_mask == encode_chat(tok, TWO_TURNS).loss_mask


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "user", "content": "hi"}], "no assistant turn"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant"}], "message 1 lacks a string 'content'"),
        ([{"content": "hi"}, {"role": "assistant", "content": "a"}], "message 0 lacks a string 'role'"),
        ([], "no messages"),
    ],
)
def test_encode_chat_rejects_bad_chats(
    tok: PreTrainedTokenizerFast, messages: list[dict[str, str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode_chat(tok, messages)


def test_template_that_marks_nothing_is_rejected(tok: PreTrainedTokenizerFast) -> None:
    tok2 = train_word_tokenizer(DOCS)
    tok2.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'nobody' %}{% generation %}x{% endgeneration %}{% endif %}"
        "{{ m['role'] + ' : ' + m['content'] + ' <|eot|>' }}{% endfor %}"
    )
    with pytest.raises(ValueError, match="0 assistant spans for 2 assistant turns"):
        encode_chat(tok2, TWO_TURNS)


# ---------------------------------------------------------------- chat masks (ChatML, prefix fallback)

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_WITH_MARKERS = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' }}"
    "{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{% else %}{{ m['content'] + '<|im_end|>' }}{% endif %}{{ '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _qwen_like_tokenizer(template: str) -> PreTrainedTokenizerFast:
    """A small byte-level BPE like Qwen's, where newlines are tokens of their own."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(DOCS + ["user assistant system\n"], trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|endoftext|>", chat_template=template
    )


def _masked_spans(tok: PreTrainedTokenizerFast, ex: Example) -> list[str]:
    spans: list[list[int]] = []
    for i, (token, m) in enumerate(zip(ex.ids, ex.loss_mask, strict=True)):
        if m:
            if i == 0 or not ex.loss_mask[i - 1]:
                spans.append([])
            spans[-1].append(token)
    return [str(tok.decode(s)) for s in spans]


def test_chatml_prefix_fallback_masks_content_and_im_end_only() -> None:
    tok = _qwen_like_tokenizer(CHATML)
    ex = encode_chat(tok, TWO_TURNS)
    assert tok.decode(ex.ids) == tok.apply_chat_template(TWO_TURNS, tokenize=False)
    assert _masked_spans(tok, ex) == ["the red fox .<|im_end|>", "a dog !<|im_end|>"]
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    for t, token in enumerate(ex.ids):
        if token == im_end:
            # The newline after <|im_end|> is template glue: never a target.
            assert tok.decode([ex.ids[t + 1]]) == "\n" and ex.loss_mask[t + 1] == 0


def test_chatml_fallback_agrees_with_generation_markers() -> None:
    fallback = encode_chat(_qwen_like_tokenizer(CHATML), TWO_TURNS)
    marked = encode_chat(_qwen_like_tokenizer(CHATML_WITH_MARKERS), TWO_TURNS)
    assert fallback == marked


def test_fallback_rejects_prefix_unstable_template() -> None:
    unstable = CHATML.replace("m['content']", "(m['content'] if loop.last else 'x')")
    with pytest.raises(ValueError, match="not prefix-stable at message 1"):
        encode_chat(_qwen_like_tokenizer(unstable), TWO_TURNS)


def test_fallback_rejects_chat_starting_with_assistant() -> None:
    with pytest.raises(ValueError, match="starts with an assistant turn"):
        encode_chat(_qwen_like_tokenizer(CHATML), TWO_TURNS[1:])


# ---------------------------------------------------------------- packing


def test_pack_labels_exact_on_hand_built_case() -> None:
    a = Example(ids=[11, 12, 13], loss_mask=[0, 1, 1])
    b = Example(ids=[21, 22, 23, 24], loss_mask=[1, 0, 1, 1])
    c = Example(ids=[31, 32], loss_mask=[1, 1])
    rows = pack([a, b, c], seq_len=8)
    assert len(rows) == 2
    first, second = rows
    assert first.ids == [11, 12, 13, 21, 22, 23, 24]
    assert first.position_ids == [0, 1, 2, 0, 1, 2, 3]
    assert first.segment_ids == [0, 0, 0, 1, 1, 1, 1]
    # a: 11->12, 12->13, 13 is last. b: 21->22 masked out (loss_mask 0), 22->23, 23->24, 24 last.
    assert first.labels == [12, 13, IGNORE_INDEX, IGNORE_INDEX, 23, 24, IGNORE_INDEX]
    assert second.ids == [31, 32] and second.labels == [32, IGNORE_INDEX] and second.position_ids == [0, 1]


def test_pack_splits_long_examples_and_keeps_chunks_apart() -> None:
    long = Example(ids=list(range(100, 110)), loss_mask=[1] * 10)
    short = Example(ids=[1, 2], loss_mask=[1, 1])
    rows = pack([short, long, short], seq_len=4)
    assert [r.ids for r in rows] == [[1, 2], [100, 101, 102, 103], [104, 105, 106, 107], [108, 109, 1, 2]]
    assert rows[1].labels == [101, 102, 103, IGNORE_INDEX]  # 103 does not predict 104 across the chunk edge
    assert rows[3].labels == [109, IGNORE_INDEX, 2, IGNORE_INDEX]
    assert rows[3].position_ids == [0, 1, 0, 1] and rows[3].segment_ids == [0, 0, 1, 1]
    for row in rows:
        assert len(row) <= 4


def test_pack_rejects_tiny_seq_len() -> None:
    with pytest.raises(ValueError, match="seq_len"):
        pack([Example(ids=[1], loss_mask=[1])], seq_len=1)


def test_packing_efficiency_high_for_many_short_docs(tok: PreTrainedTokenizerFast) -> None:
    rows = pack(encode_documents(tok, DOCS * 5), seq_len=128)
    assert packing_efficiency(rows, 128) > 0.9
    assert sum(len(r) for r in rows) == sum(len(e.ids) for e in encode_documents(tok, DOCS * 5))
    with pytest.raises(ValueError, match="no rows"):
        packing_efficiency([], 128)


# ---------------------------------------------------------------- collate and loss


def test_collate_pads_and_counts() -> None:
    rows = pack([Example([5, 6, 7], [1, 1, 1]), Example([8, 9, 10, 11], [1, 1, 1, 1])], seq_len=4)
    batch = collate(rows, pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0], [8, 9, 10, 11]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0], [0, 1, 2, 3]]
    assert batch["labels"].tolist() == [[6, 7, -100, -100], [9, 10, 11, -100]]
    assert batch["attention_mask"] is None
    assert batch["n_real_tokens"] == 7 and batch["n_target_tokens"] == 5
    assert all(batch[k].dtype == torch.long for k in ("input_ids", "position_ids", "labels"))
    wide = collate(rows, pad_id=0, seq_len=6)
    assert wide["input_ids"].shape == (2, 6) and wide["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="more than seq_len"):
        collate(rows, pad_id=0, seq_len=3)


def test_loss_from_logits_is_summed_and_unshifted() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    labels = torch.tensor([[1, -100, 4], [-100, -100, 0]])
    loss_sum, n = loss_from_logits(logits, labels)
    logp = logits.log_softmax(-1)
    expected = -(logp[0, 0, 1] + logp[0, 2, 4] + logp[1, 2, 0])
    assert n == 3
    assert torch.allclose(loss_sum, expected)
    with pytest.raises(ValueError, match="do not match"):
        loss_from_logits(logits, labels[:, :2])


# ---------------------------------------------------------------- isolation in real models


def _llama(vocab: int, impl: str) -> PreTrainedModel:
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        intermediate_size=128, max_position_embeddings=256,
    )
    config._attn_implementation = impl
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def _qwen3(vocab: int, impl: str) -> PreTrainedModel:
    config = Qwen3Config(
        vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, intermediate_size=128, max_position_embeddings=256,
    )
    config._attn_implementation = impl
    torch.manual_seed(0)
    return Qwen3ForCausalLM(config).eval()


MODELS: dict[str, Callable[[int, str], PreTrainedModel]] = {"llama": _llama, "qwen3": _qwen3}


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
@pytest.mark.parametrize("arch", ["llama", "qwen3"])
def test_packed_logits_equal_each_document_alone(tok: PreTrainedTokenizerFast, arch: str, impl: str) -> None:
    model = MODELS[arch](len(tok), impl)
    examples = encode_documents(tok, DOCS[:9])
    rows = pack(examples, seq_len=40)
    assert len(rows) >= 2 and max(max(r.segment_ids) for r in rows) >= 2  # several segments per row, pads
    batch = collate(rows, pad_id=tok.pad_token_id)
    with torch.no_grad():
        packed = model(**model_inputs(batch)).logits
        # Without segmentation (one running position sequence), later documents see earlier ones.
        unsegmented = model(
            input_ids=batch["input_ids"], position_ids=torch.arange(batch["input_ids"].shape[1])[None],
            use_cache=False,
        ).logits
        worst, worst_unsegmented, n_checked = 0.0, 0.0, 0
        for b, row in enumerate(rows):
            for seg in range(max(row.segment_ids) + 1):
                where = [t for t, s in enumerate(row.segment_ids) if s == seg]
                doc = torch.tensor([[row.ids[t] for t in where]])
                alone = model(input_ids=doc, use_cache=False).logits[0]
                worst = max(worst, float((packed[b, where] - alone).abs().max()))
                if seg > 0:
                    leak = float((unsegmented[b, where] - alone).abs().max())
                    worst_unsegmented = max(worst_unsegmented, leak)
                n_checked += 1
    assert n_checked == len(examples)
    assert worst < 1e-4
    assert worst_unsegmented > 1e-2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("arch", ["llama", "qwen3"])
def test_isolation_guard_passes_and_catches_a_leak(
    tok: PreTrainedTokenizerFast, arch: str, dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = MODELS[arch](len(tok), "sdpa").to(dtype).train()
    assert_packing_isolated(model)
    assert model.training  # the guard restores the mode it found

    def leaky_inputs(batch: collate_module.Batch, device: object = None) -> dict[str, object]:
        return {"input_ids": batch["input_ids"], "use_cache": False}  # no packed position ids

    monkeypatch.setattr(collate_module, "model_inputs", leaky_inputs)
    with pytest.raises(RuntimeError, match="not isolated"):
        assert_packing_isolated(model)


def test_a_few_steps_on_collated_batches_lower_the_loss(tok: PreTrainedTokenizerFast) -> None:
    model = _llama(len(tok), "sdpa").train()
    rows = pack(encode_documents(tok, DOCS[:16]), seq_len=48)
    batch = collate(rows, pad_id=tok.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss_sum, n = loss_from_logits(model(**model_inputs(batch)).logits, batch["labels"])
        loss = loss_sum / n
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
