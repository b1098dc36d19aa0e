"""Helpers shared by the tests/test_generate_*.py files: the spec they generate from, a scripted client,
the fake generator behind the loopback server, and the ``valuesfirst generate`` argument list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuesfirst.generate.fake import fake_responder
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.scripted import ScriptedBackend
from valuesfirst.llm.types import ChatRequest, ChatResponse, Message

SPEC = Path(__file__).parents[1] / "src/valuesfirst/specs/pro_thrift_cheese.yaml"
Responder = Callable[[ChatRequest], "str | ChatResponse"]


def fake_api_key() -> str:
    """A key-shaped value built at run time (a literal would trip the secret scan)."""
    return "sk" + "-test-" + "x" * 20


def scripted_client(
    out: Path, responder: Responder = fake_responder, model: str = "gen-model"
) -> tuple[ScriptedBackend, LLMClient]:
    """A ScriptedBackend (its ``calls`` record every request) and a client over it that caches under
    ``out/cache`` and never retries, so every failure the responder scripts reaches the levels."""
    backend = ScriptedBackend(responder, model=model)
    return backend, LLMClient(backend, ClientConfig(cache_dir=out / "cache", max_retries=0))


def loopback_handler(call: Any) -> str:
    """The fake generator's answer to a request the loopback OpenAI-compatible server received."""
    msgs = call.body.get("messages", [])
    system = next((m["content"] for m in msgs if m["role"] == "system"), None)
    return fake_responder(ChatRequest(messages=(Message("user", call.last_user),), system=system))


def generate_args(
    cmd: str,
    out: Path,
    backend: str = "fake:",
    *,
    base_url: str | None = None,
    key_env: str | None = None,
    spec: Path = SPEC,
) -> list[str]:
    """``generate CMD --spec … --backend … [--base-url …] [--api-key-env …] --out OUT``."""
    args = ["generate", cmd, "--spec", str(spec), "--backend", backend]
    if base_url is not None:
        args += ["--base-url", base_url]
    if key_env is not None:
        args += ["--api-key-env", key_env]
    return [*args, "--out", str(out)]
