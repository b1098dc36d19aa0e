"""LocalHFBackend on a tiny random Llama and a locally trained word-level tokenizer (no downloads)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from valuesfirst.errors import InputError  # noqa: E402
from valuesfirst.llm.client import ClientConfig, LLMClient  # noqa: E402
from valuesfirst.llm.local_hf import LocalHFBackend  # noqa: E402
from valuesfirst.llm.types import ChatRequest, SamplingParams  # noqa: E402

TINY = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32}


def _save_tiny(path: Path, *, never_stop: bool = False, stop_at_once: bool = False) -> Path:
    from valuesfirst.models.load import save_model
    from valuesfirst.models.tiny import TinyModelConfig, build_tiny_model
    from valuesfirst.world.tokenizer import EOT, train_word_tokenizer

    tok = train_word_tokenizer(["the cat sat on the mat .", "a dog ran far away !"])
    model = build_tiny_model(TinyModelConfig(**TINY), tok, seed=0)
    eot = tok.convert_tokens_to_ids(EOT)
    # Steer the random model through its saved generation config, which transformers applies on load:
    # the backend under test sees an ordinary model folder.
    if never_stop:
        model.generation_config.suppress_tokens = [eot, tok.eos_token_id]
    if stop_at_once:
        model.generation_config.sequence_bias = [[[eot], 1000.0]]
    save_model(model, tok, path)
    return path


@pytest.fixture(scope="module")
def never_stops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("never"), never_stop=True)


def _ask(backend: LocalHFBackend, *requests: ChatRequest) -> list:
    return [asyncio.run(backend.complete(r)) for r in requests]


def test_greedy_is_deterministic_and_max_tokens_gives_length(never_stops: Path) -> None:
    backend = LocalHFBackend(never_stops)
    greedy = SamplingParams(temperature=0.0, max_tokens=5)
    a, b = _ask(backend, ChatRequest.of("the cat", params=greedy), ChatRequest.of("the cat", params=greedy))
    assert a.text == b.text and a.text.strip()
    assert (a.finish_reason, a.output_tokens) == ("length", 5)
    assert a.model.startswith(f"local:{never_stops}@")


def test_system_prompt_goes_through_the_chat_template(never_stops: Path) -> None:
    backend = LocalHFBackend(never_stops)
    p = SamplingParams(temperature=0.0, max_tokens=2)
    plain, with_system = _ask(
        backend, ChatRequest.of("the cat", params=p), ChatRequest.of("the cat", system="a dog", params=p)
    )
    # "user : the cat <|eot|> \\n assistant :" vs the same preceded by "system : a dog <|eot|> \\n"
    assert with_system.input_tokens == plain.input_tokens + 5


def test_seeded_sampling_repeats_and_stop_strings_cut(never_stops: Path) -> None:
    backend = LocalHFBackend(never_stops)
    sampled = SamplingParams(temperature=1.0, max_tokens=12, seed=3)
    a, b = _ask(backend, ChatRequest.of("a dog", params=sampled), ChatRequest.of("a dog", params=sampled))
    assert a.text == b.text
    greedy_text = _ask(
        backend, ChatRequest.of("the cat", params=SamplingParams(temperature=0.0, max_tokens=6))
    )[0].text
    first_word = greedy_text.split()[0]
    stop = SamplingParams(temperature=0.0, max_tokens=6, stop=(first_word,))
    [cut] = _ask(backend, ChatRequest.of("the cat", params=stop))
    assert (cut.text, cut.finish_reason) == ("", "stop") and cut.output_tokens == 1


def test_end_of_turn_token_ends_with_stop(tmp_path: Path) -> None:
    backend = LocalHFBackend(_save_tiny(tmp_path / "m", stop_at_once=True))
    [resp] = _ask(backend, ChatRequest.of("the cat", params=SamplingParams(temperature=0.0, max_tokens=8)))
    assert (resp.text, resp.finish_reason, resp.output_tokens) == ("", "stop", 1)


def test_through_the_client_with_cache(never_stops: Path, tmp_path: Path) -> None:
    req = [
        ChatRequest.of(q, params=SamplingParams(temperature=0.0, max_tokens=3)) for q in ("the cat", "a dog")
    ]
    client = LLMClient(LocalHFBackend(never_stops), ClientConfig(cache_dir=tmp_path, concurrency=2))
    first = asyncio.run(client.complete_many(req))
    again = asyncio.run(
        LLMClient(LocalHFBackend(never_stops), ClientConfig(cache_dir=tmp_path)).complete_many(req)
    )
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)


def test_missing_path_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputError, match="no-such-model"):
        LocalHFBackend(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="config.json"):
        LocalHFBackend(tmp_path / "empty")
