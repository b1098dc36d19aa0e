"""Backends from a URI: ``openai:gpt-4o-mini``, ``vllm:Qwen/Qwen3-8B``, ``anthropic:claude-sonnet-4-5``,
``local:/models/my-checkpoint`` ...

API keys are read from the environment at construction, so a missing key fails before any request (and
before any money is spent) with an error naming the variable. The key goes to the SDK client and nowhere
else: it is registered with :func:`valuesfirst.provenance.register_secret`, so every redaction (manifests,
transcripts, error messages, logs) removes it even where a provider echoes it back. A ``base_url`` must be
an ``http(s)://host…`` URL: one without a scheme is an input error, not a run of failed calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from valuesfirst.errors import InputError
from valuesfirst.llm.types import Backend
from valuesfirst.provenance import redact_text, register_secret


@dataclass(frozen=True)
class _Scheme:
    kind: str  # "openai-compat" | "anthropic" | "local"
    base_url: str | None
    key_env: str | None  # default variable holding the key
    key_required: bool
    max_tokens_field: str = "max_tokens"
    help: str = ""


SCHEMES: dict[str, _Scheme] = {
    "openai": _Scheme("openai-compat", None, "OPENAI_API_KEY", True, "max_completion_tokens", "OpenAI API"),
    "vllm": _Scheme("openai-compat", "http://localhost:8000/v1", None, False, help="vLLM server (no key)"),
    "sglang": _Scheme("openai-compat", "http://localhost:30000/v1", None, False, help="SGLang server"),
    "ollama": _Scheme("openai-compat", "http://localhost:11434/v1", None, False, help="Ollama"),
    "together": _Scheme(
        "openai-compat", "https://api.together.xyz/v1", "TOGETHER_API_KEY", True, help="Together"
    ),
    "anthropic": _Scheme("anthropic", None, "ANTHROPIC_API_KEY", True, help="Anthropic Messages API"),
    "local": _Scheme("local", None, None, False, help="local transformers model folder"),
}

# Local servers accept any key; the SDK insists on a non-empty one.
_PLACEHOLDER_KEY = "EMPTY"


def _key(scheme: _Scheme, api_key_env: str | None, uri: str) -> str:
    env = api_key_env or scheme.key_env
    if env is None:
        return _PLACEHOLDER_KEY
    value = os.environ.get(env, "").strip()
    if value:
        register_secret(value)
        return value
    if scheme.key_required or api_key_env is not None:
        raise InputError.single(
            f"backend {uri!r} needs an API key in the environment variable {env}, which is not set",
            field="backend",
        )
    return _PLACEHOLDER_KEY


def check_base_url(url: str, field: str = "--base-url") -> str:
    """``url`` when it is an absolute http(s) URL with a host; InputError naming ``field`` otherwise.

    ``127.0.0.1:8000/v1`` (no scheme) would otherwise reach the SDK, fail every request with a connection
    error and be retried to the end of the run.
    """
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        shown = redact_text(url)
        if "@" in shown:  # userinfo without a scheme: hide everything before the host
            shown = "***@" + shown.rsplit("@", 1)[1]
        raise InputError.single(
            f"{shown!r} is not an http(s) URL with a host; write e.g. http://127.0.0.1:8000/v1", field=field
        )
    return url.strip()


def backend_from_uri(
    uri: str,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    timeout_s: float = 120.0,
    trust_remote_code: bool = False,
) -> Backend:
    """Build the backend a URI names.

    uri: ``SCHEME:MODEL`` with SCHEME one of :data:`SCHEMES` (``local:PATH`` for a model folder).
    base_url: overrides the scheme's default endpoint (e.g. a vLLM server on another host).
    api_key_env: the environment variable holding the key, instead of the scheme's default; when given
        it must be set, even for schemes that need no key.
    timeout_s: per-attempt HTTP timeout (default 120 s).
    trust_remote_code: for ``local:`` only; off unless the user turns it on.

    Raises InputError for an unknown scheme, an empty model, a missing key, a base_url that is not an
    http(s) URL, or a missing local path.
    """
    scheme_name, sep, model = uri.partition(":")
    scheme = SCHEMES.get(scheme_name) if sep else None
    if scheme is None:
        known = ", ".join(f"{name}: ({s.help})" for name, s in SCHEMES.items())
        raise InputError.single(
            f"unknown backend {uri!r}; expected SCHEME:MODEL with SCHEME one of {known}", field="backend"
        )
    if not model.strip():
        raise InputError.single(f"backend {uri!r} names no model after {scheme_name!r}:", field="backend")
    if base_url is not None and scheme.kind != "local":
        base_url = check_base_url(base_url)
    if scheme.kind == "local":
        from valuesfirst.llm.local_hf import LocalHFBackend

        return LocalHFBackend(model, trust_remote_code=trust_remote_code)
    key = _key(scheme, api_key_env, uri)
    if scheme.kind == "anthropic":
        from valuesfirst.llm.anthropic_backend import AnthropicBackend

        return AnthropicBackend(model, api_key=key, base_url=base_url, timeout_s=timeout_s)
    from valuesfirst.llm.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend(
        model,
        api_key=key,
        base_url=base_url or scheme.base_url,
        timeout_s=timeout_s,
        max_tokens_field=scheme.max_tokens_field,
        name=scheme_name,
    )
