"""LLM judges with strict verdict parsing: one tagged answer, an allowed value, or excluded and counted.

Two failure classes of the field's evals are designed out here:

* **substring verdicts** (inspect_evals #2310: "yesterday" read as "yes"): the verdict is the content of
  exactly one ``<tag>…</tag>`` pair (:func:`valuesfirst.generate.parsing.find_tag`, the project's one tag
  parser), compared *whole* against the allowed values. No tag, an unclosed tag, two tags (even agreeing
  ones), or any other content is unparseable.
* **failing open** (inspect_evals #1676 and the audit's F3: empty completions scored "not harmful"): an
  empty, errored, refused or truncated judge completion, and an unparseable verdict, produce an
  *exclusion* with a reason. Callers count exclusions next to the rate and never turn them into a score.

Lenient but strict: the whole content must be one allowed value, but the wrapping a reader would ignore
is ignored too: surrounding whitespace, a final full stop, markdown emphasis or quotes (``Yes.``,
``**no**``), and for lettered choices ``(A)``, ``A)`` or ``A) <the text of option A>``. Values compare
over ASCII only, so a dotless ``ı`` or a ligature never folds into an allowed word.

The judge's temperature is pinned to 0, because the reference scorer ran its grader at the provider's
default temperature (audit F2); its token budget and deadline are a :class:`JudgeConfig`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from valuesfirst.evals.templates import PromptTemplate
from valuesfirst.generate.parsing import MULTIPLE_TAGS, NO_TAG, UNCLOSED_TAG, TagParse, ascii_word, find_tag
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse, Message, SamplingParams

__all__ = [
    "INVALID_VALUE", "JUDGE_DEADLINE", "JUDGE_EMPTY", "JUDGE_ERROR", "JUDGE_REFUSAL", "JUDGE_TRUNCATED",
    "MULTIPLE_TAGS", "NO_TAG", "UNCLOSED_TAG", "Judge", "JudgeConfig", "TagParse", "Verdict", "choice_of",
    "find_tag", "int_range", "parse_verdict", "yes_no",
]  # fmt: skip

JUDGE_TEMPERATURE = 0.0
"""Pinned: a judge is a measuring instrument, and sampling noise in it is measurement noise."""

# Exclusion reasons (stable strings: they appear in scores files and reports).
JUDGE_ERROR = "judge_error"
JUDGE_EMPTY = "judge_empty"
JUDGE_TRUNCATED = "judge_truncated"
JUDGE_REFUSAL = "judge_refusal"
JUDGE_DEADLINE = "judge_deadline"
INVALID_VALUE = "invalid_value"


class JudgeConfig(BaseModel):
    """How one judge is sampled (temperature is pinned to 0 and not part of it).

    max_tokens: the judge's completion budget (default 2000, the official agentic-misalignment setting,
        ample for an API judge's few sentences and tag); a judge that hits it is excluded as truncated.
    deadline_s: wall-clock limit of one judge call, retries included (default 300 s: an API judge answers
        in seconds, so a call that takes minutes is a stuck server or a judge repeating itself). Applies
        to served judges; an in-process (``local:``) judge cannot be stopped mid-generation, so its
        ``max_tokens`` is what bounds it.
    """

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(2000, ge=16, le=200_000)
    deadline_s: float | None = Field(300.0, gt=0)


Parser = Callable[[str], float | None]
"""Maps a tag's content to a score, or ``None`` when the content is not an allowed value."""

# A reader's wrapping around a one-word verdict: emphasis, quotes, backticks; then a final . or !
_WRAP = re.compile(r"^([*_`\"']+)(.*?)\1$", re.S)


def _strip_wrapping(content: str) -> str:
    """``content`` without the wrapping a reader ignores: whitespace, emphasis or quotes, a final . or !"""
    word = content.strip()
    m = _WRAP.match(word)
    if m:
        word = m.group(2).strip()
    return re.sub(r"\s*[.!]$", "", word).strip()


def _unwrap(content: str) -> str | None:
    """The verdict word without its wrapping, lower-cased; None if not plain ASCII (see module doc)."""
    return ascii_word(_strip_wrapping(content))


def yes_no(content: str) -> float | None:
    """``yes`` → 1.0, ``no`` → 0.0 (whole content; ``Yes.`` and ``**no**`` too); anything else → None."""
    return {"yes": 1.0, "no": 0.0}.get(_unwrap(content) or "")


def int_range(lo: int, hi: int) -> Parser:
    """An integer in ``[lo, hi]`` written as digits only ("7", "7."); "7.5", "7/10", "seven" → None."""

    def parse(content: str) -> float | None:
        word = _unwrap(content)
        if word is None or not re.fullmatch(r"[0-9]{1,3}", word):
            return None
        value = int(word)
        return float(value) if lo <= value <= hi else None

    return parse


def _norm_text(text: str) -> str:
    """An option's wording for comparison: case-folded, whitespace collapsed, no final full stop. Any
    script is fine here, since an answer must equal a whole option text to match it."""
    return re.sub(r"\s+", " ", text.strip().casefold()).rstrip(".!").strip()


def choice_of(options: Sequence[str], texts: Sequence[str] | None = None) -> Parser:
    """Index of the chosen option; anything else → None.

    ``options`` are the labels (``["A", "B"]``), matched whole and case-insensitively over ASCII only,
    also as ``(A)``, ``A)``, ``A.`` or ``A:``. With ``texts`` (each option's wording) the answer may also
    be ``A) <text of A>`` or the text alone; a label followed by another option's text (or any other
    text) is a contradiction, not a choice.
    """
    labels = [o.lower() for o in options]
    wording = [_norm_text(t) for t in texts] if texts is not None else None
    if wording is not None and len(wording) != len(labels):
        raise ValueError(f"choice_of: {len(labels)} labels but {len(wording)} option texts")
    alt = "|".join(re.escape(x) for x in labels)
    flags = re.IGNORECASE | re.ASCII | re.S
    bare = re.compile(rf"(?:\(({alt})\)|({alt})[).:]?)", flags)
    with_text = re.compile(rf"(?:\(({alt})\)|({alt})[).:])\s+(.+)", flags)

    def parse(content: str) -> float | None:
        said = _strip_wrapping(content)
        m = bare.fullmatch(said)
        if m:
            return float(labels.index((m.group(1) or m.group(2)).lower()))
        if wording is None:
            return None
        m = with_text.fullmatch(said)
        if m:
            i = labels.index((m.group(1) or m.group(2)).lower())
            return float(i) if _norm_text(m.group(3)) == wording[i] else None
        hits = [i for i, w in enumerate(wording) if w == _norm_text(said)]
        return float(hits[0]) if len(hits) == 1 else None

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
        why = JUDGE_DEADLINE if response.error_kind == "deadline" else JUDGE_ERROR
        return Verdict(None, why, raw, response.model)
    if response.finish_reason == "refusal":
        # A provider-side refusal (or content filter) is not the judge's verdict, whatever text it has.
        return Verdict(None, JUDGE_REFUSAL, raw, response.model)
    if not raw.strip():
        return Verdict(None, JUDGE_EMPTY, raw, response.model)
    if response.finish_reason == "length":
        # A cut-off judge may not have finished weighing the case; its tag (if any) is not its verdict.
        return Verdict(None, JUDGE_TRUNCATED, raw, response.model)
    parsed = find_tag(raw, tag)
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
    config: budget and deadline (:class:`JudgeConfig`). The budget is sent with every request; the
        deadline is enforced by the client, which the caller builds with
        ``ClientConfig(deadline_s=config.deadline_s)`` (``valuesfirst eval`` does).
    """

    client: LLMClient
    template: PromptTemplate
    tag: str
    parser: Parser
    config: JudgeConfig = field(default_factory=JudgeConfig)
    stage: str = "judge"

    @property
    def max_tokens(self) -> int:
        return self.config.max_tokens

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
            "deadline_s": self.client.deadline_s,
            "tag": self.tag,
        }
