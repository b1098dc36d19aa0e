"""Provenance for stage manifests: what software produced a result, and secret redaction.

A manifest should let someone reproduce a result months later, so it records interpreter, platform,
package versions, torch thread count and the git commit of the code. It deliberately leaves out the
hostname and user name: manifests get shared with papers and bug reports.

:func:`redact` is applied to everything that goes into a manifest so that an API key passed in a config
never lands on disk; :func:`redact_text` does the same for free text (error messages, log lines, banners).
Both remove, wherever they occur in a string, every value registered with :func:`register_secret` (the LLM
factory registers each API key it reads from the environment), URL userinfo (``https://user:pw@host`` ->
``https://***@host``) and credential-shaped tokens (``Bearer …``, ``Basic …``, ``sk-…``).
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "PACKAGES",
    "REDACTED",
    "is_secret_key",
    "package_version",
    "provenance",
    "redact",
    "redact_text",
    "register_secret",
    "utc_now",
]

# Distributions whose versions decide numerical results (training goes through accelerate, PEFT and, when
# configured, DeepSpeed); missing ones are recorded as null.
PACKAGES: tuple[str, ...] = (
    "valuesfirst",
    "torch",
    "transformers",
    "tokenizers",
    "numpy",
    "pydantic",
    "accelerate",
    "peft",
    "safetensors",
    "deepspeed",
)

REDACTED = "***"

# git is asked with a short timeout: provenance must never hang a pipeline on a slow network filesystem.
_GIT_TIMEOUT_S = 3.0

# Words that mark a key as secret wherever they appear in it (after splitting the key into words).
_SECRET_WORDS = frozenset(
    {"secret", "secrets", "password", "passwd", "passphrase", "authorization", "credential", "credentials"}
)
# Word pairs that mark a key as secret: api_key / apiKey / x-api-key, private_key.
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key")})
# Keys joined without separators that are secret: "apikey", "privatekey".
_SECRET_JOINED = ("apikey", "privatekey")
# "token" alone is a secret (hf_token, access_token, token), but tokenizer configs are full of non-secret
# "*_token" keys (eos_token, pad_token). When the word before "token" is one of these, it is not a secret.
# Unknown qualifiers are redacted: losing a value in a manifest is better than leaking a credential.
_TOKEN_ROLES = frozenset(
    {
        "eos", "bos", "pad", "unk", "sep", "cls", "mask", "eot", "special", "start", "end", "stop", "turn",
        "chat", "image", "audio", "video", "additional", "default", "decoder", "think", "tool", "per", "max",
        "min", "num", "first", "last", "next", "im",
    }
)  # fmt: skip
# Keys that name where a secret lives rather than holding it (api_key_env: "OPENAI_API_KEY").
_REFERENCE_SUFFIXES = frozenset({"env", "var", "file", "path", "name"})
# Values that are unmistakably credentials whatever key they sit under, found anywhere in a string.
_SECRET_TOKENS = re.compile(
    r"(?:(?<=Bearer )|(?<=bearer )|(?<=Basic )|(?<=basic ))[^\s\"',}]+"  # Authorization header values
    r"|(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_\-]{16,}"  # OpenAI and Anthropic key shapes
    r"|hf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub
    r"|xox[abprs]-[A-Za-z0-9\-]{10,})"  # Slack
)
# userinfo of a URL: scheme://user:password@host or scheme://token@host.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@?#]+@")
# Values registered by the code that read them (API keys from the environment); shorter ones would
# redact ordinary words, and local servers' placeholder keys ("EMPTY") are not secret.
_MIN_SECRET_LEN = 8
_REGISTERED: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` (an API key read from a variable) so every later redaction removes it."""
    if value and len(value.strip()) >= _MIN_SECRET_LEN:
        _REGISTERED.add(value.strip())


def redact_text(text: str) -> str:
    """``text`` with registered secrets, URL userinfo and credential-shaped tokens replaced by ``***``."""
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted(_REGISTERED, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    return _SECRET_TOKENS.sub(REDACTED, text)


def _words(key: str) -> list[str]:
    """Split ``"hfToken"``, ``"X-Api-Key"``, ``"openai.api_key"`` into lowercase words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def is_secret_key(key: object) -> bool:
    """True if a mapping key looks like it holds a credential (api_key, token, secret, password, ...)."""
    words = _words(str(key))
    if not words:
        return False
    if words[-1] in _REFERENCE_SUFFIXES and len(words) > 1:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    if any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False)):
        return True
    if any(joined in word for word in words for joined in _SECRET_JOINED):
        return True
    for index, word in enumerate(words):
        if word == "token" and (index == 0 or words[index - 1] not in _TOKEN_ROLES):
            return True
    return False


def redact(obj: Any) -> Any:
    """Return a copy of ``obj`` with secret-looking values replaced by ``"***"``.

    Recurses through mappings, lists and tuples (tuples come back as lists, as JSON would make them).
    A value is replaced when its key looks secret (see :func:`is_secret_key`); every other string goes
    through :func:`redact_text` (registered secrets, URL userinfo, ``Bearer …``/``sk-…`` tokens). ``None``
    and empty strings under a secret key are kept: they reveal nothing and show that the secret was unset.
    """
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            if is_secret_key(key) and value is not None and value != "":
                out[key] = REDACTED
            else:
                out[key] = redact(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(item) for item in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def utc_now() -> str:
    """Current time as ISO 8601 UTC with a ``Z`` suffix, e.g. ``2026-05-01T12:00:00.123456Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=1)
def _package_versions() -> dict[str, str | None]:
    # Installed versions cannot change under a running process, so look them up once.
    return {name: package_version(name) for name in PACKAGES}


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _torch_threads() -> int | None:
    """torch's intra-op thread count, if this process has imported torch.

    Importing torch only to ask would cost seconds in stages that never use it; and a stage that never
    touched torch cannot have been affected by its thread count.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return int(torch.get_num_threads())
    except Exception:  # a half-initialised or stub torch must not break provenance
        return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(path: Path | None = None) -> dict[str, Any]:
    """Commit and dirtiness of the git working tree holding ``path`` (default: this package's source).

    Returns ``{"commit": None, "dirty": None}`` when git is absent, the code is not in a repository, or the
    repository has no commits yet; provenance is best effort and never raises.
    """
    where = path if path is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], where)
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def provenance() -> dict[str, Any]:
    """Describe the software environment producing a result, for ``manifest.json``.

    Keys: ``python`` (version), ``python_implementation``, ``platform`` (OS and architecture, no hostname),
    ``packages`` (name -> version or null), ``torch_threads`` (null when torch was not imported),
    ``git`` (commit and dirty flag of the code's working tree, nulls when unknown), ``timestamp`` (UTC).
    """
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": dict(_package_versions()),
        "torch_threads": _torch_threads(),
        "git": git_state(),
        "timestamp": utc_now(),
    }
