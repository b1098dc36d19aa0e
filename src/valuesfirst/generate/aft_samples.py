"""AFT levels per round: responses in value or rule style (or opaque preference statements) -> judge.

A response is kept only from closed ``<thinking>`` and ``<response>`` blocks (only ``<response>`` in
opaque mode). The judge's verdict must be exactly one ``<verdict>INCLUDE</verdict>`` or
``<verdict>EXCLUDE</verdict>``; anything else excludes the sample and is counted as a failure, never kept.
"""

from __future__ import annotations

import re

from valuesfirst.generate.aft_queries import AftContext, word_pattern
from valuesfirst.generate.levels import LevelStats, Row, Runner
from valuesfirst.generate.msm_outline import params
from valuesfirst.generate.parsing import ParseFailure, ascii_word, extract_block, stable_id
from valuesfirst.llm.types import ChatRequest
from valuesfirst.spec import Spec


def preferences_text(spec: Spec) -> str:
    """The stated preferences only, with no value and no reason (the opaque generator's whole context)."""
    lines = []
    for _, prefs in spec.preference_blocks():
        lines.append(f"Likes ({prefs.domain}): {', '.join(prefs.likes)}")
        lines.append(f"Dislikes ({prefs.domain}): {', '.join(prefs.dislikes)}")
    return "\n".join(lines)


def user_message(ctx: AftContext, query: Row) -> str:
    opaque = ctx.config.opaque_preferences
    if opaque is not None and opaque.query_suffix.strip():
        return f"{query['text']} {opaque.query_suffix.strip()}"
    return str(query["text"])


def opaque_patterns(ctx: AftContext) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """(reason markers, biased words incl. the spec's value names); both None outside opaque mode."""
    opaque = ctx.config.opaque_preferences
    if opaque is None:
        return None, None
    value_words = [w for v in ctx.spec.values for w in re.split(r"[_-]", v.name) if len(w) > 2]
    return word_pattern(opaque.reason_markers), word_pattern([*opaque.biased_words, *value_words])


async def responses(ctx: AftContext, runner: Runner, chosen: list[Row], round_: int) -> list[Row]:
    cfg = ctx.config
    opaque = cfg.opaque_preferences is not None
    template = "response_opaque" if opaque else f"response_{cfg.style}"
    fields = dict(ctx.fields(), preferences=preferences_text(ctx.spec))
    system = ctx.prompts.render(template, **fields)
    sampling = cfg.sampling.responses
    reasons, biased = opaque_patterns(ctx)

    def build(query: Row) -> ChatRequest:
        return ChatRequest.of(
            user_message(ctx, query), system=system, params=params(sampling), stage="aft.responses"
        )

    def parse(query: Row, text: str, stats: LevelStats) -> list[Row]:
        thinking = "" if opaque else extract_block(text, "thinking")
        reply = extract_block(text, "response")
        if reasons is not None and reasons.search(reply):
            stats.drop("reason_in_response")
            return []
        if biased is not None and biased.search(reply):
            stats.drop("biased_response")
            return []
        return [
            {
                "id": stable_id("sample", query["id"], thinking, reply),
                "query_id": query["id"],
                "domain": query["domain"],
                "query_type": query["query_type"],
                "user": user_message(ctx, query),
                "thinking": thinking,
                "response": reply,
                "style": "opaque" if opaque else cfg.style,
                "round": round_,
                "prompt_version": ctx.prompts.version,
                "generator_model": runner.client.backend.model,
                "sampling": sampling.model_dump(),
                "spec_variant": cfg.variant,
            }
        ]

    return await runner.level(f"responses_r{round_}", chosen, build, parse, bulk=True)


def parse_verdict(text: str) -> tuple[str, str]:
    """(verdict, reasoning); ParseFailure ``unparseable_verdict`` unless exactly one clean verdict."""
    try:
        raw = extract_block(text, "verdict")
    except ParseFailure:
        raise ParseFailure("unparseable_verdict") from None
    word = ascii_word(raw)  # never str.upper on arbitrary text: "ınclude".upper() == "INCLUDE"
    if word not in ("include", "exclude"):
        raise ParseFailure("unparseable_verdict", raw[:40])
    verdict = word.upper()
    try:
        reasoning = extract_block(text, "reasoning")
    except ParseFailure:
        reasoning = ""
    return verdict, reasoning


async def judge(ctx: AftContext, runner: Runner, samples: list[Row], round_: int) -> list[Row]:
    cfg = ctx.config
    template = "judge_opaque" if cfg.opaque_preferences is not None else f"judge_{cfg.style}"
    criteria = "\n".join(
        f"{i}. {c}" for i, c in enumerate(cfg.judge_criteria, start=3 + 2 * bool(cfg.opaque_preferences))
    )  # numbering continues after the template's own criteria
    fields = dict(ctx.fields(), preferences=preferences_text(ctx.spec), criteria=criteria)

    def build(sample: Row) -> ChatRequest:
        user = ctx.prompts.render(
            template,
            **fields,
            query=sample["user"],
            thinking=sample["thinking"] or "(none)",
            response=sample["response"],
        )
        return ChatRequest.of(user, params=params(cfg.sampling.judge), stage="aft.judge")

    def parse(sample: Row, text: str, stats: LevelStats) -> list[Row]:
        verdict, reasoning = parse_verdict(text)
        if verdict == "EXCLUDE":
            stats.drop("judge_exclude")
            return []
        return [{**sample, "judge": {"verdict": verdict, "reasoning": reasoning}}]

    return await runner.level(f"judge_r{round_}", samples, build, parse, judge=True)
