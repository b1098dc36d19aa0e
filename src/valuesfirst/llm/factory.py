"""Backends from a URI: ``openai:gpt-4o-mini``, ``vllm:Qwen/Qwen3-8B``, ``anthropic:claude-sonnet-4-5``,
``local:/models/my-checkpoint`` ...

API keys are read from the environment at construction, so a missing key fails before any request (and
before any money is spent) with an error naming the variable. The key goes to the SDK client and nowhere
else: it is registered with :func:`valuesfirst.provenance.register_secret`, so every redaction (manifests,
transcripts, error messages, logs) removes it even where a provider echoes it back. A ``base_url`` must be
an ``http(s)://host…`` URL: one without a scheme is an input error, not a run of failed calls.

Several endpoints of one model (many vLLM/SGLang servers): ``base_url`` may be a comma-separated list of
URLs or ``@FILE`` naming a file with one URL per line (blank lines and ``#`` comments skipped). Each URL
is checked like a single one; the backends, one per URL, go behind a
:class:`~valuesfirst.llm.endpoints.MultiEndpointBackend`. A single URL builds the plain backend, as before.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from valuesfirst.errors import InputError, Problem
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
    problem = _url_problem(url)
    if problem is not None:
        raise InputError.single(problem, field=field)
    return url.strip()


def _url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a base URL (with credentials hidden), or None when it is fine."""
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme in ("http", "https") and parts.hostname and port_ok:
        return None
    shown = redact_text(url)
    if "@" in shown:  # userinfo without a scheme: hide everything before the host
        shown = "***@" + shown.rsplit("@", 1)[1]
    return f"{shown!r} is not an http(s) URL with a host; write e.g. http://127.0.0.1:8000/v1"


# A comment after a URL in an endpoints file: " # ..." (a base URL never needs a #fragment).
_TRAILING_COMMENT = re.compile(r"\s+#.*$")


def parse_base_urls(value: str, field: str = "--base-url") -> list[str]:
    """The endpoint URLs ``value`` names: one URL, a comma-separated list, or ``@FILE`` (one URL a line,
    blank lines and ``#`` comments skipped). Every bad entry is reported in one InputError, each located
    by its list item or its file and line; a URL given twice is an error (most likely a copy slip)."""
    value = value.strip()
    if value.startswith("@"):
        return _urls_from_file(value[1:].strip(), field)
    if "," not in value:
        return [check_base_url(value, field)]
    items = enumerate(value.split(","), 1)
    entries = [(item.strip(), Problem(None, None, f"{field} item {i}", "")) for i, item in items]
    return _checked(entries, what=f"the {field} list")


def _urls_from_file(name: str, field: str) -> list[str]:
    if not name:
        raise InputError.single("@ must be followed by a file of URLs, e.g. @endpoints.txt", field=field)
    path = Path(name).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise InputError.single(f"cannot read the endpoints file: {reason}", file=name, field=field) from None
    entries = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = _TRAILING_COMMENT.sub("", raw).strip()
        if line and not line.startswith("#"):
            entries.append((line, Problem(name, n, field, "")))
    if not entries:
        raise InputError.single("the endpoints file lists no URL", file=name, field=field)
    return _checked(entries, what="the file")


def _checked(entries: list[tuple[str, Problem]], what: str) -> list[str]:
    """The URLs of ``entries`` (each with where it came from, as a Problem without a message), or one
    InputError with every problem found."""
    problems: list[Problem] = []
    first_at: dict[str, Problem] = {}
    for url, where in entries:
        if not url:
            message: str | None = f"empty entry in {what}"
        elif "," in url and where.file is not None:
            message = "one URL per line (commas separate URLs only in --base-url itself)"
        elif url in first_at:
            message = f"{redact_text(url)!r} is listed twice in {what} (also {_where(first_at[url])})"
        else:
            message = _url_problem(url)
            first_at.setdefault(url, where)
        if message is not None:
            problems.append(Problem(where.file, where.line, where.field, message))
    if problems:
        raise InputError(problems)
    return [url for url, _ in entries]


def _where(where: Problem) -> str:
    return f"line {where.line}" if where.line is not None else str(where.field)


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
    base_url: overrides the scheme's default endpoint (e.g. a vLLM server on another host): one URL, a
        comma-separated list, or ``@FILE`` of URLs (see :func:`parse_base_urls`); several build a
        :class:`~valuesfirst.llm.endpoints.MultiEndpointBackend` that spreads calls over them.
    api_key_env: the environment variable holding the key, instead of the scheme's default; when given
        it must be set, even for schemes that need no key.
    timeout_s: per-attempt HTTP timeout (default 120 s).
    trust_remote_code: for ``local:`` only; off unless the user turns it on.

    Raises InputError for an unknown scheme, an empty model, a missing key, a base_url that is not an
    http(s) URL (or a list or file holding one, an unreadable file, a URL given twice), or a missing local
    path.
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
    if scheme.kind == "local":
        from valuesfirst.llm.local_hf import LocalHFBackend

        return LocalHFBackend(model, trust_remote_code=trust_remote_code)
    urls = parse_base_urls(base_url) if base_url is not None else [scheme.base_url]
    key = _key(scheme, api_key_env, uri)
    backends = [_one_backend(scheme, scheme_name, model, url, key, timeout_s) for url in urls]
    if len(backends) == 1:
        return backends[0]
    from valuesfirst.llm.endpoints import MultiEndpointBackend

    return MultiEndpointBackend(backends, urls=[str(u) for u in urls], name=scheme_name)


def _one_backend(
    scheme: _Scheme, scheme_name: str, model: str, base_url: str | None, key: str, timeout_s: float
) -> Backend:
    """The backend of one endpoint (``base_url`` None: the provider's own)."""
    if scheme.kind == "anthropic":
        from valuesfirst.llm.anthropic_backend import AnthropicBackend

        return AnthropicBackend(model, api_key=key, base_url=base_url, timeout_s=timeout_s)
    from valuesfirst.llm.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend(
        model,
        api_key=key,
        base_url=base_url,
        timeout_s=timeout_s,
        max_tokens_field=scheme.max_tokens_field,
        name=scheme_name,
    )
