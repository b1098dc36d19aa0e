"""Forced-choice log-prob scoring on a degenerate model: uniform logits must show no preference when
options are compared length-fairly, and the summed score's length bias must be visible."""

from __future__ import annotations

import torch

from valuesfirst.models.logprob import pair_scores, score_items
from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model
from valuesfirst.train.tiny import bpe_tokenizer, toy_sentences


def _uniform_model_and_tokenizer():  # noqa: ANN202 - test helper
    tok = bpe_tokenizer(toy_sentences(200), "qwen", 512)
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    model = build_tiny_model(
        TinyModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tok, 0
    )
    with torch.no_grad():
        model.get_output_embeddings().weight.zero_()  # every next token equally likely
    return model, tok


def _items() -> list[dict]:
    items = []
    for k, (short, long) in enumerate(
        [("the fox", "the red fox that lives in the north"), ("honesty", "honesty and care")]
    ):
        for order, opts in enumerate(((short, long), (long, short))):
            items.append({"id": f"{k}-{order}", "set": "s", "pair_id": str(k), "prompt": "which one?",
                          "options": list(opts), "target": opts.index(long)})  # fmt: skip
    return items


def test_uniform_logits_have_no_preference_under_mean_scoring() -> None:
    model, tok = _uniform_model_and_tokenizer()
    scored = score_items(model, tok, _items(), normalize="mean")
    for row in scored:
        assert abs(row["logp"][0] - row["logp"][1]) < 1e-5  # identical per-token log-probability
        assert row["n_tokens"][0] != row["n_tokens"][1]
    _, hard, soft = pair_scores(scored, "s")
    assert hard == [0.5, 0.5]  # a tie picks the first option: across both orders, no preference
    assert all(abs(s - 0.5) < 1e-5 for s in soft)


def test_summed_scoring_favours_the_shorter_option() -> None:
    model, tok = _uniform_model_and_tokenizer()
    scored = score_items(model, tok, _items(), normalize="sum")
    _, hard, _ = pair_scores(scored, "s")
    assert hard == [0.0, 0.0]  # the longer (target) option always loses: length, not preference


def test_prefix_cache_gives_the_same_scores() -> None:
    import tempfile
    from pathlib import Path

    from valuesfirst.models.load import load_model
    from valuesfirst.train.tiny import make_tiny_model_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_tiny_model_folder(Path(tmp) / "m", toy_sentences(200), arch="llama")
        model, tok = load_model(folder)
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    items = _items() + [{"id": "x", "set": "s", "pair_id": "9", "prompt": "a much longer prompt " * 5,
                         "options": ["yes", "no thank you"], "target": 0}]  # fmt: skip
    for normalize in ("sum", "mean"):
        plain = score_items(model, tok, items, batch_size=2, normalize=normalize)
        cached = score_items(model, tok, items, batch_size=2, normalize=normalize, prefix_cache=True)
        for a, b in zip(plain, cached, strict=True):
            assert a["n_tokens"] == b["n_tokens"] and a["choice"] == b["choice"]
            assert max(abs(x - y) for x, y in zip(a["logp"], b["logp"], strict=True)) < 1e-4
