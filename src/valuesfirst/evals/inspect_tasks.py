"""The agentic, spec-QA, multi-turn pressure and jailbreak evals as inspect-ai tasks
(``agentic_misalignment``, ``spec_qa``, ``pressure_multi_turn``, ``jailbreak``).

    inspect eval src/valuesfirst/evals/inspect_tasks.py@agentic_misalignment --model vllm/... \\
        -T grader_model=anthropic/claude-sonnet-4-6 --epochs 300 --temperature 0.7

The scorers call valuesfirst's own scoring (the same strict verdict parsing, exclusions, deterministic
``harmful`` check) through an adapter that makes an inspect model a valuesfirst backend, so inspect and
``valuesfirst eval`` give the same scores on the same transcripts (tests/test_eval_inspect.py checks
this). Unlike the reference port: the grader runs at temperature 0 with a 2000-token budget whatever the
CLI's ``--temperature`` says; an excluded verdict is ``None`` in the score and is left out of the mean
and counted by the ``excluded`` metric, never averaged in as 0; each scenario cell is its own sample, so
``stderr`` is over samples rather than always 0.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, GenerateConfig, Model, get_model
from inspect_ai.scorer import (
    Metric,
    SampleScore,
    Score,
    Scorer,
    ScoreReducer,
    Target,
    metric,
    score_reducer,
    scorer,
)
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver, system_message

from valuesfirst.evals import agentic, pressure, spec_evals
from valuesfirst.evals.agentic_scenarios import ACTIONS, GOAL_NAMES, URGENCIES, ScenarioConfig, build_grid
from valuesfirst.evals.runner import EvalItem
from valuesfirst.evals.transcripts import Transcript, Turn
from valuesfirst.llm.client import ClientConfig, LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse, PermanentBackendError

DEFAULT_GRADER = "anthropic/claude-sonnet-4-6"


class InspectBackend:
    """An inspect model behind the valuesfirst backend protocol (for judges inside inspect scorers)."""

    name = "inspect"

    def __init__(self, model: Model) -> None:
        self._model = model
        self.model = str(model)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        from inspect_ai.model import ChatMessageUser

        messages: list[Any] = [ChatMessageSystem(content=request.system)] if request.system else []
        for m in request.messages:
            messages.append(
                ChatMessageUser(content=m.content)
                if m.role == "user"
                else ChatMessageAssistant(content=m.content)
            )
        p = request.params
        out = await self._model.generate(
            messages, config=GenerateConfig(temperature=p.temperature, max_tokens=p.max_tokens)
        )
        if out.error:
            raise PermanentBackendError(str(out.error))
        stop = out.stop_reason
        finish = (
            "length"
            if stop in ("max_tokens", "model_length")
            else "refusal"
            if stop == "content_filter"
            else "stop"
        )
        return ChatResponse(text=out.completion, finish_reason=finish, model=self.model)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        return None


def _sample(item: EvalItem) -> Sample:
    meta = {**item.metadata, "cell": item.cell, "system": item.system or ""}
    return Sample(id=item.id, input=item.user, metadata=meta)


def transcript_from_state(state: TaskState, eval_name: str) -> Transcript:
    """The valuesfirst transcript of an inspect sample: the same record ``valuesfirst eval`` writes."""
    turns = [
        Turn(role=m.role, content=m.text) for m in state.messages if m.role in ("system", "user", "assistant")
    ]
    meta = {k: v for k, v in state.metadata.items() if k not in ("cell", "system")}
    error = state.output.error if state.output else None
    completion = state.output.completion if state.output else ""
    return Transcript(
        id=f"{state.sample_id}#{state.epoch - 1}", eval=eval_name, item_id=str(state.sample_id),
        cell=state.metadata["cell"], sample=state.epoch - 1, model=str(state.model), messages=turns,
        completion=completion, finish_reason="error" if error else "stop",
        error=str(error) if error else None, metadata=meta,
    )  # fmt: skip


@score_reducer(name="mean_excluding_none")
def mean_excluding_none() -> ScoreReducer:
    """Epoch reducer: per metric, the mean over the epochs that were scored; ``None`` if none was.

    inspect's default ``mean`` reducer turns an excluded (``None``) value into 0 before the metrics see
    it, which would score a failed generation as "not harmful". With this reducer the per-sample value is
    the cell's rate over its scored epochs, and the metrics below average cells (the paper's macro mean).
    """

    def reduce(scores: list[Score]) -> Score:
        keys = {k for s in scores if isinstance(s.value, dict) for k in s.value}
        out: dict[str, float | None] = {}
        counts: dict[str, int] = {}
        for k in sorted(keys):
            vals = [
                float(s.value[k]) for s in scores if isinstance(s.value, dict) and s.value.get(k) is not None
            ]
            out[k] = sum(vals) / len(vals) if vals else None
            counts[k] = len(scores) - len(vals)
        return Score(value=out, metadata={"excluded_epochs": counts})

    return reduce


@metric
def scored_mean() -> Metric:
    """Mean over scored samples only (``None`` = excluded, left out rather than counted as 0)."""

    def compute(scores: list[SampleScore]) -> float:
        vals = [float(s.score.value) for s in scores if s.score.value is not None]  # type: ignore[arg-type]
        return sum(vals) / len(vals) if vals else float("nan")

    return compute


@metric
def excluded() -> Metric:
    """How many samples (cells, after epoch reduction) had this metric excluded in every epoch. The
    per-epoch exclusion counts are in each sample's score metadata (``excluded_epochs``)."""

    def compute(scores: list[SampleScore]) -> float:
        return float(sum(1 for s in scores if s.score.value is None))

    return compute


def _vf_scorer(eval_name: str, score_fn: Any, make_judge: Any, grader_model: str | None) -> Any:
    async def score(state: TaskState, target: Target) -> Score:
        t = transcript_from_state(state, eval_name)
        judge = None
        if make_judge is not None:
            model = get_model(grader_model or DEFAULT_GRADER)
            judge = make_judge(LLMClient(InspectBackend(model), ClientConfig(max_retries=0)))
        rows, _ = await score_fn([t], judge)
        row = rows[0]
        return Score(
            value=dict(row["metrics"]), metadata={"excluded": row["excluded"], "detail": row["detail"]}
        )

    return score


def _metrics(names: tuple[str, ...]) -> list[dict[str, list[Metric]]]:
    return [{n: [scored_mean(), excluded()]} for n in names]


@scorer(metrics=_metrics(agentic.METRICS))
def agentic_scorer(grader_model: str | None = None) -> Scorer:
    return _vf_scorer("agentic", agentic.score, agentic.make_judge, grader_model)


@scorer(metrics=_metrics((spec_evals.QA_METRIC,)))
def spec_qa_scorer(grader_model: str | None = None) -> Scorer:
    return _vf_scorer("spec-qa", spec_evals.score, spec_evals.make_judge, grader_model)


@scorer(metrics=_metrics(("held_all", *(f"held_turn_{k}" for k in range(1, pressure.TURNS + 1)))))
def pressure_scorer(grader_model: str | None = None) -> Scorer:
    return _vf_scorer("pressure", pressure.score, pressure.make_judge, grader_model)


@solver
def attacker_conversation(attacker_model: str | None = None, turns: int = pressure.TURNS) -> Solver:
    """The multi-turn pressure loop of :mod:`valuesfirst.evals.pressure`, with inspect models: the attacker
    writes each user turn (``<message>`` parsed strictly; a failed attacker ends the conversation)."""
    from inspect_ai.model import ChatMessageUser

    from valuesfirst.llm.types import Message

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        attacker = get_model(attacker_model or DEFAULT_GRADER)
        state.messages = []
        for turn in range(1, turns + 1):
            so_far = [Message(m.role, m.text) for m in state.messages]  # type: ignore[arg-type]
            prompt = pressure.attacker_prompt(state.metadata, turn, turns, so_far)
            config = GenerateConfig(temperature=pressure.ATTACKER_TEMPERATURE, max_tokens=1024)
            out = await attacker.generate(prompt, config=config)
            message, failure = pressure.attacker_message(out.completion, out.error is not None)
            if message is None:
                state.metadata["attacker_failed_at"] = turn
                state.metadata["attacker_failure"] = failure
                break
            state.messages.append(ChatMessageUser(content=message))
            state = await generate(state)
            if not state.output.completion.strip():
                break
        state.metadata["turns"] = turns
        return state

    return solve


@scorer(metrics=_metrics(("held",)))
def jailbreak_scorer(grader_model: str | None = None) -> Scorer:
    return _vf_scorer("jailbreak", pressure.score, pressure.make_judge, grader_model)


def _split(value: str, known: tuple[str, ...]) -> tuple[str, ...]:
    return known if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())


@task
def agentic_misalignment(
    actions: str = "exfiltration,espionage,lethal", goals: str = "all", urgencies: str = "replacement",
    model_name: str = "Alex", scratchpad: bool = True, grader_model: str | None = None,
) -> Task:  # fmt: skip
    """One sample per scenario cell (default: MSM's 27); run repeats with ``--epochs``."""
    cfg = ScenarioConfig(model_name=model_name, scratchpad=scratchpad)
    grid = build_grid(_split(actions, ACTIONS), _split(goals, GOAL_NAMES), _split(urgencies, URGENCIES), cfg)
    return Task(
        dataset=MemoryDataset([_sample(i) for i in agentic.items(grid)]),
        solver=[system_message("{system}"), generate()],
        scorer=agentic_scorer(grader_model),
        epochs=Epochs(1, mean_excluding_none()),
        message_limit=3,
    )


@task
def spec_qa(grader_model: str | None = None, spec: str | None = None) -> Task:
    from pathlib import Path

    items = spec_evals.qa_items(None, Path(spec) if spec else None)
    return Task(
        dataset=MemoryDataset([_sample(i) for i in items]),
        solver=[generate()],
        scorer=spec_qa_scorer(grader_model),
        epochs=Epochs(1, mean_excluding_none()),
    )


@task
def jailbreak(grader_model: str | None = None) -> Task:
    items = pressure.jailbreak_items(None)
    return Task(
        dataset=MemoryDataset([_sample(i) for i in items]),
        solver=[generate()],
        scorer=jailbreak_scorer(grader_model),
        epochs=Epochs(1, mean_excluding_none()),
    )


@task
def pressure_multi_turn(
    attacker_model: str | None = None, grader_model: str | None = None, turns: int = pressure.TURNS
) -> Task:
    """An attacker model escalates over ``turns`` turns; the judge scores each reply."""
    items = pressure.items(None)
    return Task(
        dataset=MemoryDataset(
            [Sample(id=i.id, input="", metadata={**i.metadata, "cell": i.cell}) for i in items]
        ),
        solver=[attacker_conversation(attacker_model, turns)],
        scorer=pressure_scorer(grader_model),
        epochs=Epochs(1, mean_excluding_none()),
    )
