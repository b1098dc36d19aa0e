"""backend_from_uri: schemes, defaults, and API-key handling (missing key fails before any request)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from loopback_llm import LoopbackLLM

from valuesfirst.errors import InputError
from valuesfirst.llm.anthropic_backend import AnthropicBackend
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.factory import backend_from_uri
from valuesfirst.llm.openai_compat import OpenAICompatBackend
from valuesfirst.llm.types import ChatRequest

FAKE_KEY = "sk" + "-test-" + "y" * 20


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "TOGETHER_API_KEY", "MY_KEY"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("uri", "name", "base_url"),
    [
        ("vllm:Qwen/Qwen3-8B", "vllm", "http://localhost:8000/v1"),
        ("ollama:llama3.2", "ollama", "http://localhost:11434/v1"),
        ("sglang:m", "sglang", "http://localhost:30000/v1"),
    ],
)
def test_local_servers_need_no_key(uri: str, name: str, base_url: str) -> None:
    backend = backend_from_uri(uri)
    assert isinstance(backend, OpenAICompatBackend)
    assert (backend.name, backend.base_url, backend.model) == (name, base_url, uri.split(":", 1)[1])


def test_keyed_schemes_read_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("TOGETHER_API_KEY", FAKE_KEY)
    openai = backend_from_uri("openai:gpt-4o-mini")
    assert isinstance(openai, OpenAICompatBackend) and openai.base_url is None
    together = backend_from_uri("together:meta-llama/Llama-3-8b")
    assert isinstance(together, OpenAICompatBackend) and together.base_url == "https://api.together.xyz/v1"
    claude = backend_from_uri("anthropic:claude-sonnet-4-5", timeout_s=30)
    assert isinstance(claude, AnthropicBackend) and claude.model == "claude-sonnet-4-5"
    for backend in (openai, together, claude):
        assert FAKE_KEY not in repr(backend) and FAKE_KEY not in str(vars(backend).get("model"))


@pytest.mark.parametrize(
    ("uri", "var"), [("openai:gpt-4o", "OPENAI_API_KEY"), ("anthropic:c", "ANTHROPIC_API_KEY")]
)
def test_missing_key_fails_at_construction_before_any_request(uri: str, var: str) -> None:
    with LoopbackLLM() as server, pytest.raises(InputError, match=var):
        backend_from_uri(uri, base_url=server.openai_base_url)
    assert server.http_requests == 0


def test_named_key_variable_is_required_and_used(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="MY_KEY"):
        backend_from_uri("vllm:m", api_key_env="MY_KEY")
    monkeypatch.setenv("MY_KEY", FAKE_KEY)
    with LoopbackLLM() as server:
        backend = backend_from_uri("vllm:m", base_url=server.openai_base_url, api_key_env="MY_KEY")
        client = LLMClient(backend, ClientConfig())
        resp = asyncio.run(client.complete(ChatRequest.of("hi")))
        assert server.requests[0].headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert resp.text == "echo: hi"
    assert FAKE_KEY not in str(client.usage.to_json())


def test_openai_scheme_sends_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    with LoopbackLLM() as server:
        backend = backend_from_uri("openai:gpt-4o-mini", base_url=server.openai_base_url)
        asyncio.run(LLMClient(backend).complete(ChatRequest.of("hi")))
        body = server.requests[0].body
    assert body["max_completion_tokens"] == 1024 and "max_tokens" not in body


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as err:
        backend_from_uri("gemini:pro")
    for scheme in ("openai", "vllm", "ollama", "together", "anthropic", "local"):
        assert scheme in str(err.value)
    with pytest.raises(InputError, match="unknown backend"):
        backend_from_uri("gpt-4o")  # no scheme at all
    with pytest.raises(InputError, match="names no model"):
        backend_from_uri("vllm:")


def test_local_scheme_checks_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        backend_from_uri(f"local:{tmp_path / 'missing'}")
