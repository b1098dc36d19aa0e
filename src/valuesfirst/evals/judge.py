"""LLM judges with strict verdict parsing: exactly one tagged answer, exact value, or excluded and counted.

Two failure classes of the field's evals are designed out here:

* **substring verdicts** (inspect_evals #2310: "yesterday" read as "yes"): the verdict is the content of
  exactly one ``<tag>…</tag>`` pair, stripped and compared *whole* against the allowed values. No tag,
  an unclosed tag, two tags (even agreeing ones), or any other content is unparseable.
* **failing open** (inspect_evals #1676 and the audit's F3: empty completions scored "not harmful"): an
  empty, errored or truncated judge completion, and an unparseable verdict, produce an *exclusion* with
  a reason. Callers count exclusions next to the rate and never turn them into a score.

The judge's sampling is pinned: temperature 0 and a fixed token budget, set here and not configurable,
because the reference scorer ran its grader at the provider's default temperature (audit F2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from valuesfirst.evals.templates import PromptTemplate
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse, Message, SamplingParams

JUDGE_TEMPERATURE = 0.0
"""Pinned: a judge is a measuring instrument, and sampling noise in it is measurement noise."""

# Exclusion reasons (stable strings: they appear in scores files and reports).
JUDGE_ERROR = "judge_error"
JUDGE_EMPTY = "judge_empty"
JUDGE_TRUNCATED = "judge_truncated"
NO_TAG = "no_tag"
UNCLOSED_TAG = "unclosed_tag"
MULTIPLE_TAGS = "multiple_tags"
INVALID_VALUE = "invalid_value"


@dataclass(frozen=True)
class TagParse:
    """Result of :func:`extract_tag`: the tag's stripped content, or why there is none."""

    content: str | None
    failure: str | None


def extract_tag(text: str, tag: str) -> TagParse:
    """The content of the single ``<tag>…</tag>`` in ``text`` (tag name case-insensitive).

    Exactly one opening and one closing tag must occur. A judge that mentions the tag in its reasoning
    ("I will answer in <answer> tags") as well as answering has two openings and is rejected: guessing
    which one it meant would be a substring parse by another name.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-:]*", tag):
        raise ValueError(f"invalid tag name {tag!r}")
    opens = len(re.findall(rf"<{re.escape(tag)}>", text, flags=re.I))
    closes = len(re.findall(rf"</{re.escape(tag)}>", text, flags=re.I))
    if opens == 0 and closes == 0:
        return TagParse(None, NO_TAG)
    if opens > 1 or closes > 1:
        return TagParse(None, MULTIPLE_TAGS)
    match = re.search(rf"<{re.escape(tag)}>(.*?)</{re.escape(tag)}>", text, flags=re.I | re.S)
    if match is None:
        return TagParse(None, UNCLOSED_TAG)
    return TagParse(match.group(1).strip(), None)


Parser = Callable[[str], float | None]
"""Maps a tag's content to a score, or ``None`` when the content is not an allowed value."""


def yes_no(content: str) -> float | None:
    """``yes`` → 1.0, ``no`` → 0.0 (case-insensitive, whole content); anything else → None."""
    return {"yes": 1.0, "no": 0.0}.get(content.strip().lower())


def int_range(lo: int, hi: int) -> Parser:
    """An integer in ``[lo, hi]`` written as digits only ("7"); "7.5", "7/10", "seven" → None."""

    def parse(content: str) -> float | None:
        if not re.fullmatch(r"[0-9]{1,3}", content.strip()):
            return None
        value = int(content.strip())
        return float(value) if lo <= value <= hi else None

    return parse


def choice_of(options: Sequence[str]) -> Parser:
    """Index of the (case-insensitive, whole-content) matching option; anything else → None."""
    lowered = [o.lower() for o in options]

    def parse(content: str) -> float | None:
        c = content.strip().lower()
        return float(lowered.index(c)) if c in lowered else None

    return parse


@dataclass(frozen=True)
class Verdict:
    """One judgement: ``value`` when parsed, else ``excluded`` names the reason. ``raw`` is the judge text."""

    value: float | None
    excluded: str | None
    raw: str
    judge_model: str

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "excluded": self.excluded, "raw": self.raw, "model": self.judge_model}


def parse_verdict(response: ChatResponse, tag: str, parser: Parser) -> Verdict:
    """Turn a judge completion into a :class:`Verdict`, excluding every failure with its reason."""
    raw = response.text or ""
    if response.finish_reason == "error":
        return Verdict(None, JUDGE_ERROR, raw, response.model)
    if not raw.strip():
        return Verdict(None, JUDGE_EMPTY, raw, response.model)
    if response.finish_reason == "length":
        # A cut-off judge may not have finished weighing the case; its tag (if any) is not its verdict.
        return Verdict(None, JUDGE_TRUNCATED, raw, response.model)
    parsed = extract_tag(raw, tag)
    if parsed.content is None:
        return Verdict(None, parsed.failure, raw, response.model)
    value = parser(parsed.content)
    if value is None:
        return Verdict(None, INVALID_VALUE, raw, response.model)
    return Verdict(value, None, raw, response.model)


@dataclass
class Judge:
    """A judge: a backend (behind an :class:`LLMClient`), a prompt template, the answer tag and its parser.

    template: rendered with the fields each call supplies; its name, version and hash are recorded.
    tag / parser: where the verdict is and which values it may take.
    max_tokens: the judge's completion budget (default 2000, the official agentic-misalignment setting);
        a judge that hits it is excluded as truncated.
    """

    client: LLMClient
    template: PromptTemplate
    tag: str
    parser: Parser
    max_tokens: int = 2000
    stage: str = "judge"

    @property
    def model(self) -> str:
        return self.client.backend.model

    def request(self, fields: dict[str, Any]) -> ChatRequest:
        params = SamplingParams(temperature=JUDGE_TEMPERATURE, max_tokens=self.max_tokens)
        prompt = self.template.render(**fields)
        return ChatRequest(messages=(Message("user", prompt),), params=params, stage=self.stage)

    async def judge_many(self, fields: Sequence[dict[str, Any]]) -> list[Verdict]:
        responses = await self.client.complete_many([self.request(f) for f in fields])
        return [parse_verdict(r, self.tag, self.parser) for r in responses]

    def describe(self) -> dict[str, Any]:
        """What produced a verdict, for the scores file: model, template, pinned sampling."""
        return {
            "model": self.model,
            "backend": self.client.backend.name,
            "template": self.template.provenance(),
            "temperature": JUDGE_TEMPERATURE,
            "max_tokens": self.max_tokens,
            "tag": self.tag,
        }
