"""Strict parsing of tagged LLM outputs.

Nothing here falls back to "the whole response": a block that is missing, unclosed, repeated or empty
is a :class:`ParseFailure` with a short reason that the level counts. (The reference code kept
everything after an unclosed ``<content>``, so truncated documents entered the corpus truncated.)
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any


class ParseFailure(Exception):
    """An output that cannot be used; ``reason`` is a short counter key such as ``unclosed_content``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def stable_id(*parts: object) -> str:
    """16-hex-digit SHA-256 of the parts' canonical JSON: ids derive from content, never names alone."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def extract_block(text: str, tag: str) -> str:
    """The stripped text inside exactly one closed ``<tag>…</tag>``.

    Raises ParseFailure ``no_<tag>`` (no opening tag), ``unclosed_<tag>``, ``multiple_<tag>`` or
    ``empty_<tag>``.
    """
    opens = [m.end() for m in re.finditer(rf"<{tag}>", text)]
    closes = [m.start() for m in re.finditer(rf"</{tag}>", text)]
    if not opens:
        raise ParseFailure(f"no_{tag}")
    if not closes or closes[-1] < opens[0]:
        raise ParseFailure(f"unclosed_{tag}")
    if len(opens) > 1 or len(closes) > 1:
        raise ParseFailure(f"multiple_{tag}")
    inner = text[opens[0] : closes[0]].strip()
    if not inner:
        raise ParseFailure(f"empty_{tag}")
    return inner


def _strip_fence(text: str) -> str:
    fenced = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, re.S)
    return fenced.group(1) if fenced else text


def parse_json_list(text: str, tag: str = "output") -> list[Any]:
    """A JSON array inside ``<tag>``; a code fence around it is allowed, nothing else is repaired."""
    inner = _strip_fence(extract_block(text, tag))
    try:
        value = json.loads(inner)
    except json.JSONDecodeError as exc:
        raise ParseFailure("invalid_json", exc.msg) from None
    if not isinstance(value, list):
        raise ParseFailure("not_a_list", type(value).__name__)
    return value


def require_str(item: Any, *keys: str) -> dict[str, str]:
    """The named non-empty string fields of a JSON object; ParseFailure ``bad_item`` otherwise."""
    if not isinstance(item, dict):
        raise ParseFailure("bad_item", f"expected an object, got {type(item).__name__}")
    out: dict[str, str] = {}
    for key in keys:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ParseFailure("bad_item", f"missing or empty {key!r}")
        out[key] = value.strip()
    return out


def normalize_ws(text: str) -> str:
    return " ".join(text.split())
