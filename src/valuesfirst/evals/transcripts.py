"""Transcripts first, scores second: the JSONL record generation writes and every scorer reads.

Generation (the expensive, sampled part) writes ``transcripts.jsonl`` once. Scoring reads it and can be
re-run with another judge, a second judge, or a fixed parser without regenerating (inspect_evals #873
had to retrofit this). A transcript whose generation failed or came back empty is still written, with
its ``finish_reason``/``error``, so scoring can *count* it as excluded instead of it silently vanishing (or,
worse, being scored: a reply cut by the token limit is excluded as ``generation_truncated``, never read).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from valuesfirst.errors import InputError, Problem
from valuesfirst.jsonl import iter_jsonl_numbered, write_jsonl
from valuesfirst.llm.types import ChatRequest, ChatResponse

GENERATION_ERROR = "generation_error"
GENERATION_EMPTY = "generation_empty"
GENERATION_TRUNCATED = "generation_truncated"
GENERATION_REFUSAL = "generation_refusal"
GENERATION_FAILURES = (GENERATION_ERROR, GENERATION_REFUSAL, GENERATION_TRUNCATED, GENERATION_EMPTY)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


class Transcript(BaseModel):
    """One sampled conversation with the model under test.

    id: unique within the file (``<item_id>#<sample>``). eval: the suite that made it. item_id: the eval
    item. cell: the reporting cell (e.g. ``exfiltration/america/replacement``); rates and Wilson
    intervals are per cell. unit: the unit paired across conditions by the bootstrap (default: the cell).
    sample: repeat index. model: the model under test as its backend names it. condition / seed: the
    training condition and seed of the checkpoint (set by the caller, e.g. ``--condition msm --seed 1``);
    SEM is taken over seeds. messages: the whole conversation, system prompt first, model turns included.
    completion: the model's final answer. reasoning: its separate reasoning channel, when the backend
    returned one (vLLM ``reasoning_content``): private, read by judges, never by tool-call checks.
    finish_reason / error: as the backend reported them.
    metadata: everything a scorer needs from the item (scenario facts, gold answers).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    eval: str
    item_id: str
    cell: str
    unit: str = ""
    sample: int = 0
    model: str
    condition: str | None = None
    seed: int | None = None
    messages: list[Turn]
    completion: str
    reasoning: str = ""
    finish_reason: str
    error: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def model_post_init(self, _context: Any) -> None:
        if not self.unit:
            self.unit = self.cell

    @property
    def generation_failure(self) -> str | None:
        """Why this transcript cannot be scored, or None: the model's answer did not finish.

        An errored call, a provider refusal or content filter, a reply cut by the token limit, and an empty
        reply are each excluded from every metric under their own reason, never scored: a reply cut off
        inside its scratchpad has not *declined* the harmful action, it has not answered (the audit found
        47 such replies scored "not harmful" over six agentic runs). A multi-turn suite stops the
        conversation at the first reply that did not finish, so this is the status of its last reply.
        """
        if self.finish_reason == "error":
            return GENERATION_ERROR
        if self.finish_reason == "refusal":
            return GENERATION_REFUSAL
        if self.finish_reason == "length":
            return GENERATION_TRUNCATED
        if not self.completion.strip():
            return GENERATION_EMPTY
        return None

    def assistant_turns(self) -> list[str]:
        return [t.content for t in self.messages if t.role == "assistant"]


def conversation(request: ChatRequest, response: ChatResponse) -> list[Turn]:
    """The request's turns (system first) plus the model's answer."""
    turns = [Turn(role="system", content=request.system)] if request.system else []
    turns += [Turn(role=m.role, content=m.content) for m in request.messages]
    turns.append(Turn(role="assistant", content=response.text))
    return turns


def write_transcripts(path: Path, transcripts: Iterable[Transcript]) -> int:
    return write_jsonl(path, (t.model_dump(mode="json") for t in transcripts))


def read_transcripts(path: Path) -> list[Transcript]:
    """Read and validate a transcripts file; every bad line is reported with its line and field."""
    rows: list[Transcript] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for line, raw in iter_jsonl_numbered(path):
        try:
            t = Transcript.model_validate(raw)
        except ValidationError as e:
            for err in e.errors():
                field = ".".join(str(p) for p in err["loc"]) or None
                problems.append(Problem(str(path), line, field, err["msg"]))
            continue
        if t.id in seen:
            problems.append(Problem(str(path), line, "id", f"duplicate id {t.id!r} (line {seen[t.id]})"))
        seen[t.id] = line
        rows.append(t)
    if problems:
        raise InputError(problems[:20])
    return rows


def with_labels(transcripts: Sequence[Transcript], condition: str | None, seed: int | None) -> None:
    """Stamp the checkpoint's condition and training seed on freshly generated transcripts."""
    for t in transcripts:
        t.condition = condition
        t.seed = seed
