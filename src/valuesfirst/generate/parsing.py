"""Strict parsing of tagged LLM outputs.

Nothing here falls back to "the whole response": a block that is missing, unclosed, repeated or empty
is a :class:`ParseFailure` with a short reason that the level counts. (The reference code kept
everything after an unclosed ``<content>``, so truncated documents entered the corpus truncated.)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TagParse:
    """Result of :func:`find_tag`: the tag's stripped content, or why there is none.

    failure: ``no_tag`` (no opening tag), ``unclosed_tag`` (no closing tag after the first opening),
    ``multiple_tags`` (more than one opening or closing tag), or None. Empty content is not a failure
    here; callers decide (generation rejects it, a judge's value parser rejects it).
    """

    content: str | None
    failure: str | None


NO_TAG = "no_tag"
UNCLOSED_TAG = "unclosed_tag"
MULTIPLE_TAGS = "multiple_tags"
_TAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-:]*")
# ASCII-only case folding: with plain re.I, Python also matches "ı" (dotless i), "İ", "ſ" and the Kelvin
# sign against i/s/k, so "<thınking>" would open a <thinking> block.
_CI = re.IGNORECASE | re.ASCII


def find_tag(text: str, tag: str) -> TagParse:
    """The content of the single ``<tag>…</tag>`` in ``text``; the one tag parser of the project.

    Tag names match case-insensitively over ASCII only (a model writing ``<Answer>`` meant the tag; a
    ``<thınking>`` with a dotless i is not ``<thinking>``). Exactly one opening and one closing tag
    must occur: a judge that mentions the tag in its reasoning ("I will answer in <answer> tags") as well
    as answering has two openings and is rejected, because guessing which one it meant would be a
    substring parse by another name. Nothing falls back to "the whole response".
    """
    if not _TAG_NAME.fullmatch(tag):
        raise ValueError(f"invalid tag name {tag!r}")
    name = re.escape(tag)
    opens = [m.end() for m in re.finditer(rf"<{name}>", text, flags=_CI)]
    closes = [m.start() for m in re.finditer(rf"</{name}>", text, flags=_CI)]
    if not opens:
        return TagParse(None, NO_TAG)
    if not closes or closes[-1] < opens[0]:
        return TagParse(None, UNCLOSED_TAG)
    if len(opens) > 1 or len(closes) > 1:
        return TagParse(None, MULTIPLE_TAGS)
    return TagParse(text[opens[0] : closes[0]].strip(), None)


def extract_block(text: str, tag: str) -> str:
    """The stripped text inside exactly one closed ``<tag>…</tag>`` (see :func:`find_tag`).

    Raises ParseFailure ``no_<tag>`` (no opening tag), ``unclosed_<tag>``, ``multiple_<tag>`` or
    ``empty_<tag>``.
    """
    parsed = find_tag(text, tag)
    if parsed.failure == NO_TAG:
        raise ParseFailure(f"no_{tag}")
    if parsed.failure == UNCLOSED_TAG:
        raise ParseFailure(f"unclosed_{tag}")
    if parsed.failure == MULTIPLE_TAGS:
        raise ParseFailure(f"multiple_{tag}")
    if not parsed.content:
        raise ParseFailure(f"empty_{tag}")
    return parsed.content


def ascii_word(content: str) -> str | None:
    """``content`` stripped and lower-cased if it is plain ASCII, else None.

    Verdict words are compared after this, never after ``str.upper``/``lower`` on arbitrary text: those
    map look-alikes onto ASCII (``"ınclude".upper() == "INCLUDE"`` with a dotless i, ``"ﬁx".upper() ==
    "FIX"``), so a garbled or adversarial verdict would read as a valid one.
    """
    word = content.strip()
    return word.lower() if word.isascii() else None


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
