"""Generation for single-turn evals: items × samples → chat requests → transcripts.

Every suite that asks the model one question (agentic scenarios, spec QA, spec knowledge, value
generalization on served models) turns its items into :class:`EvalItem` and calls :func:`generate`.
Failed, refused, truncated and empty completions are written like any other transcript; scoring counts
them as excluded.
Suites that run a conversation turn by turn record it with :func:`multi_turn_transcript`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from valuesfirst.evals.transcripts import Transcript, Turn, conversation
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse, Message, SamplingParams


class GenerationConfig(BaseModel):
    """How the model under test is sampled.

    samples: repeats per item (default 1; MSM ran 300 per agentic cell). Each repeat is a distinct
        request (``sample`` is part of the cache key), so repeats are never collapsed by the cache.
    temperature: default 0.7, the MSM paper's setting for the agentic eval (1.0 roughly halves the
        misalignment rate on one cell, per a reproduction; record it with every result).
    max_tokens: completion budget (default 4096, as in the MSM README). A completion that hits it is
        written with ``finish_reason="length"`` and excluded from every score as
        ``generation_truncated`` (counted); raise it for reasoning models, which hit 4096 often.
    seed: base sampling seed passed to backends that accept one (sample k uses seed + k); None: unset.
    """

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(1, ge=1, le=100_000)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(4096, ge=1)
    seed: int | None = None


@dataclass(frozen=True)
class EvalItem:
    """One prompt of an eval: where it is reported (cell, unit) and what scoring needs (metadata)."""

    id: str
    cell: str
    user: str
    system: str | None = None
    unit: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def requests_for(
    items: Sequence[EvalItem], gen: GenerationConfig, stage: str
) -> list[tuple[EvalItem, int, ChatRequest]]:
    out = []
    for item in items:
        for k in range(gen.samples):
            params = SamplingParams(
                temperature=gen.temperature,
                max_tokens=gen.max_tokens,
                seed=None if gen.seed is None else gen.seed + k,
            )
            req = ChatRequest(
                messages=(Message("user", item.user),),
                params=params,
                system=item.system,
                sample=k,
                stage=stage,
            )
            out.append((item, k, req))
    return out


async def generate(
    client: LLMClient, items: Sequence[EvalItem], gen: GenerationConfig, eval_name: str
) -> list[Transcript]:
    """Sample every item ``gen.samples`` times; one transcript per sample, in item-then-sample order."""
    jobs = requests_for(items, gen, stage=f"eval:{eval_name}")
    check = getattr(client.backend, "check_prompts", None)
    if check is not None:  # a local model: every prompt must fit its context, said before generating
        first = [(item, req) for item, k, req in jobs if k == 0]
        await asyncio.to_thread(check, [req for _, req in first], [item.id for item, _ in first])
    responses = await client.complete_many([req for _, _, req in jobs])
    transcripts = []
    for (item, k, req), resp in zip(jobs, responses, strict=True):
        transcripts.append(
            Transcript(
                id=f"{item.id}#{k}",
                eval=eval_name,
                item_id=item.id,
                cell=item.cell,
                unit=item.unit or item.cell,
                sample=k,
                model=resp.model or client.backend.model,
                messages=conversation(req, resp),
                completion=resp.text,
                reasoning=resp.reasoning,
                finish_reason=resp.finish_reason,
                error=resp.error,
                metadata={**item.metadata, "temperature": gen.temperature, "max_tokens": gen.max_tokens},
            )
        )
    return transcripts


def finished(resp: ChatResponse) -> bool:
    """Whether a reply finished (a multi-turn suite stops the conversation at the first that did not)."""
    return resp.finish_reason == "stop" and bool(resp.text.strip())


def multi_turn_transcript(
    eval_name: str,
    item: EvalItem,
    k: int,
    client: LLMClient,
    msgs: Sequence[Message],
    last: ChatResponse,
    metadata: dict[str, Any],
) -> Transcript:
    """The transcript of a conversation a suite ran turn by turn (pressure, sycophancy): ``msgs`` is the
    whole conversation and ``last`` the model's final reply, whose text, finish reason and error it keeps."""
    return Transcript(
        id=f"{item.id}#{k}",
        eval=eval_name,
        item_id=item.id,
        cell=item.cell,
        sample=k,
        model=last.model or client.backend.model,
        messages=[Turn(role=m.role, content=m.content) for m in msgs],
        completion=last.text,
        reasoning=last.reasoning,
        finish_reason=last.finish_reason,
        error=last.error,
        metadata=metadata,
    )
