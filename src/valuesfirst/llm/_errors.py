"""Maps SDK exceptions (openai, anthropic) onto the two errors the client understands.

Both SDKs share the same shape (``APIStatusError`` with ``status_code`` and ``response.headers``,
``APITimeoutError``, ``APIConnectionError``), so one mapping serves both. The rule: a failure that another
attempt could fix is transient (429, 408, 409, 5xx incl. Anthropic's 529 "overloaded", timeouts, dropped
connections, an unparseable body); anything else (400, 401, 403, 404, 422) is permanent, because
retrying a bad request or a bad key only burns quota.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from valuesfirst.llm.types import BackendError, PermanentBackendError, TransientBackendError
from valuesfirst.provenance import redact_text

# Statuses worth retrying: request timeout, conflict (lock contention), too many requests, and any 5xx.
_RETRYABLE_4XX = frozenset({408, 409, 429})


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date); None when absent/bad."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            return value if math.isfinite(value) and value >= 0 else None
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def map_sdk_error(exc: BaseException, sdk: Any, provider: str) -> BackendError | None:
    """The BackendError for an exception raised by ``sdk`` (the openai or anthropic module), else None.

    The message names the provider, the status and the provider's own words (a 401's "invalid key", a
    refused connection's errno), redacted: a provider that echoes the Authorization header, or a base URL
    with credentials in it, never puts them into a message. ``kind`` is ``http_<status>``, ``timeout``,
    ``connection`` or ``bad_body``.
    """
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        detail = f"{provider} HTTP {status}: {_short(exc)}"
        kind = f"http_{status}"
        if status in _RETRYABLE_4XX or status >= 500:
            retry_after = parse_retry_after(exc.response.headers)
            return TransientBackendError(detail, retry_after=retry_after, kind=kind)
        return PermanentBackendError(detail, kind=kind)
    if isinstance(exc, sdk.APITimeoutError):  # subclass of APIConnectionError: check first
        return TransientBackendError(f"{provider} HTTP timeout: {_cause(exc)}", kind="timeout")
    if isinstance(exc, sdk.APIConnectionError):
        return TransientBackendError(f"{provider} connection failed: {_cause(exc)}", kind="connection")
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError | UnicodeDecodeError):
        # A 200 whose body is not the promised JSON: a proxy or an overloaded server cut it short. The
        # same request usually succeeds again, so retry; if it keeps happening the call counts as failed.
        return TransientBackendError(
            f"{provider} returned an unparseable body: {type(exc).__name__}", kind="bad_body"
        )
    return None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = redact_text(str(getattr(exc, "message", None) or exc))
    return text if len(text) <= limit else text[:limit] + "…"


def _cause(exc: BaseException, limit: int = 400) -> str:
    """The SDK's words plus the transport errors under them ("Connection error." says nothing alone; the
    ConnectionRefusedError five causes down does)."""
    parts = [str(exc)]
    seen = {str(exc)}
    inner = exc.__cause__ or exc.__context__
    for _ in range(8):
        if inner is None:
            break
        text = str(inner)
        if text not in seen:
            parts.append(f"{type(inner).__name__}: {text}" if text else type(inner).__name__)
            seen.add(text)
        inner = inner.__cause__ or inner.__context__
    text = redact_text(" <- ".join(p for p in parts if p))
    return text if len(text) <= limit else text[:limit] + "…"


# Error types OpenAI-compatible servers put in an error body that another attempt could fix.
_TRANSIENT_TYPES = frozenset(
    {"rate_limit_error", "api_error", "overloaded_error", "server_error", "timeout", "service_unavailable"}
)


def error_from_body(body: Mapping[str, Any], provider: str) -> BackendError | None:
    """The BackendError an error body stands for, or None when ``body`` is not one.

    For HTTP clients that hand over the JSON but not the status (Ray Data's HTTP stage returns the body
    of a 400 or a 500 as if it were an answer). The status is read back from the body where the server
    put it (vLLM and SGLang: ``code`` 400, 503 …), else from the error's ``type``; it decides transient
    against permanent as :func:`map_sdk_error` does. Unknown: permanent (the call fails and is counted,
    never retried blindly; a rerun asks it again).
    """
    error = body.get("error")
    if error is None and body.get("object") != "error":
        return None
    detail = error if isinstance(error, Mapping) else body
    message = redact_text(str(detail.get("message") or error or "error body without a message"))[:300]
    code = detail.get("code", body.get("code"))
    status = code if isinstance(code, int) and not isinstance(code, bool) else None
    if status is None and isinstance(code, str) and code.isdigit():
        status = int(code)
    kind = f"http_{status}" if status is not None else "error_body"
    text = f"{provider} error{'' if status is None else f' HTTP {status}'}: {message}"
    if status is not None:
        transient = status in _RETRYABLE_4XX or status >= 500
    else:
        transient = str(detail.get("type", "")) in _TRANSIENT_TYPES
    if transient:
        return TransientBackendError(text, kind=kind)
    return PermanentBackendError(text, kind=kind)
