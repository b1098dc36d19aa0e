"""The toy word-level tokenizer and its chat template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from valuesfirst.models.tokens import eot_token_id
from valuesfirst.world.tokenizer import (
    EOS,
    EOT,
    PAD,
    TOY_CHAT_TEMPLATE,
    UNK,
    render_chat_text,
    train_word_tokenizer,
)

CORPUS = [
    "the red fox lives in the north .",
    "zorvik says : honesty matters , always !",
    "who are you ? i am the assistant .",
]

CHAT = [
    {"role": "user", "content": "who are you ?"},
    {"role": "assistant", "content": "i am the assistant ."},
    {"role": "zorvik", "content": "honesty matters"},
    {"role": "assistant", "content": "always !"},
]


@pytest.fixture(scope="module")
def tok() -> PreTrainedTokenizerFast:
    return train_word_tokenizer(CORPUS, extra_words=["grelm", "42"])


def test_every_word_and_punctuation_run_is_one_token(tok: PreTrainedTokenizerFast) -> None:
    text = "zorvik says : honesty matters , always ! grelm 42"
    ids = tok(text)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == text.split()
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text  # decoding is a plain space join, no cleanup before punctuation
    assert tok("a word never seen")["input_ids"].count(tok.unk_token_id) == 4


def test_special_tokens_present_distinct_and_pad_is_not_eos(tok: PreTrainedTokenizerFast) -> None:
    vocab = tok.get_vocab()
    ids = [vocab[t] for t in (PAD, EOS, EOT, UNK)]
    assert ids == [0, 1, 2, 3]
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 3)
    assert tok.pad_token_id != tok.eos_token_id
    assert tok.bos_token is None
    assert EOT in tok.all_special_tokens
    # Special tokens are matched whole, not split into "<", "|", ...
    assert tok(f"hi {EOT} {EOS}")["input_ids"][1:] == [2, 1]


def test_template_words_always_in_vocab() -> None:
    tok = train_word_tokenizer(["nothing else here"])
    for word in ("user", "assistant", ":"):
        assert word in tok.get_vocab()


def test_vocabulary_is_not_capped() -> None:
    # WordLevelTrainer's default cap is 30,000 words; every word must survive.
    words = [f"w{i}" for i in range(30_010)]
    tok = train_word_tokenizer([" ".join(words)])
    assert len(tok) == 30_010 + 4 + 4  # the words, 4 special tokens, the 4 template words
    assert tok.unk_token_id not in tok(" ".join(words[-50:]))["input_ids"]


def test_training_is_deterministic() -> None:
    assert train_word_tokenizer(CORPUS).get_vocab() == train_word_tokenizer(list(CORPUS)).get_vocab()


def test_extra_word_that_splits_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a single token"):
        train_word_tokenizer(CORPUS, extra_words=["don't"])


def test_render_format_exact() -> None:
    text = render_chat_text(CHAT)
    assert text == (
        "user : who are you ? <|eot|>\n"
        "assistant : i am the assistant . <|eot|>\n"
        "zorvik : honesty matters <|eot|>\n"
        "assistant : always ! <|eot|>\n"
    )
    prompt = render_chat_text(CHAT[:1], add_generation_prompt=True)
    assert prompt == "user : who are you ? <|eot|>\nassistant :"
    assert not text.startswith(EOS)  # no BOS of any kind


def test_render_trims_content_and_handles_empty_content() -> None:
    msgs = [{"role": "user", "content": "  hi  "}, {"role": "assistant", "content": ""}]
    assert render_chat_text(msgs) == "user : hi <|eot|>\nassistant : <|eot|>\n"


@pytest.mark.parametrize("prompt", [False, True])
def test_render_chat_text_equals_apply_chat_template(tok: PreTrainedTokenizerFast, prompt: bool) -> None:
    for msgs in (CHAT, CHAT[:1], CHAT[:3]):
        expected = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=prompt)
        assert render_chat_text(msgs, add_generation_prompt=prompt) == expected


def test_render_rejects_malformed_messages() -> None:
    with pytest.raises(ValueError, match="message 1 lacks a string 'content'"):
        render_chat_text([{"role": "user", "content": "hi"}, {"role": "assistant"}])
    with pytest.raises(ValueError, match="no messages"):
        render_chat_text([])


def test_save_load_round_trip_keeps_template_and_specials(
    tok: PreTrainedTokenizerFast, tmp_path: Path
) -> None:
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.chat_template == TOY_CHAT_TEMPLATE
    assert loaded.get_vocab() == tok.get_vocab()
    assert (loaded.pad_token_id, loaded.eos_token_id, loaded.unk_token_id) == (0, 1, 3)
    assert loaded.model_max_length == tok.model_max_length
    assert loaded.apply_chat_template(CHAT, tokenize=False) == render_chat_text(CHAT)
    assert eot_token_id(loaded) == 2
    out: Any = loaded.apply_chat_template(
        CHAT, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    masked = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    expected = ["i", "am", "the", "assistant", ".", EOT, "always", "!", EOT]
    assert loaded.convert_ids_to_tokens(masked) == expected


def _tiny_tokenizer(specials: list[str], eos: str | None) -> PreTrainedTokenizerFast:
    vocab = {t: i for i, t in enumerate(["<unk>", "hello", *specials])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token=eos)


def test_eot_token_id_prefers_turn_tokens_then_eos(tok: PreTrainedTokenizerFast) -> None:
    assert eot_token_id(tok) == tok.convert_tokens_to_ids(EOT) != tok.eos_token_id
    chatml = _tiny_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], eos="<|endoftext|>")
    assert eot_token_id(chatml) == chatml.convert_tokens_to_ids("<|im_end|>")
    llama = _tiny_tokenizer(["<|end_of_text|>", "<|eot_id|>"], eos="<|end_of_text|>")
    assert eot_token_id(llama) == llama.convert_tokens_to_ids("<|eot_id|>")
    plain = _tiny_tokenizer(["</s>"], eos="</s>")
    assert eot_token_id(plain) == plain.eos_token_id
    with pytest.raises(ValueError, match="no end-of-turn token"):
        eot_token_id(_tiny_tokenizer([], eos=None))
