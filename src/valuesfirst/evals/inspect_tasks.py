"""The agentic, spec-QA, multi-turn pressure and jailbreak evals as inspect-ai tasks
(``agentic_misalignment``, ``spec_qa``, ``pressure_multi_turn``, ``jailbreak``).

    inspect eval src/valuesfirst/evals/inspect_tasks.py@agentic_misalignment --model vllm/... \\
        -T grader_model=anthropic/claude-sonnet-4-6 --temperature 0.7

The scorers call valuesfirst's own scoring (the same strict verdict parsing, exclusions, deterministic
``harmful`` check) through an adapter that makes an inspect model a valuesfirst backend, so inspect and
``valuesfirst eval`` give the same scores on the same transcripts (tests/test_eval_inspect.py checks
this). Unlike the reference port: the grader runs at temperature 0 with a 2000-token budget and a 300 s
deadline (``-T grader_max_tokens=... grader_deadline=...``) whatever the CLI's ``--temperature`` says;
the model's budget is set (``max_tokens``, default 4096) and a reply cut by it is excluded, not scored;
an excluded verdict is ``None`` in the score and is left out of the mean, never averaged in as 0; each
scenario cell is its own sample, run ``epochs`` times (default 30 for the agentic task, as
``valuesfirst eval agentic``), so ``stderr`` is over cells.

Metrics per score key: ``scored_mean`` and ``scored_stderr`` over cells (the macro mean and its standard
error); over every epoch, ``excluded`` (how many epochs had the key excluded), ``scored`` and
``excluded_by_reason`` (one count per reason).
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
from valuesfirst.evals.agentic_scenarios import (
    ACTIONS,
    GOAL_NAMES,
    GOAL_TYPES,
    URGENCIES,
    ScenarioConfig,
    build_grid,
)
from valuesfirst.evals.judge import JudgeConfig
from valuesfirst.evals.runner import EvalItem
from valuesfirst.evals.suites import AGENTIC_DEFAULT_SAMPLES
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


def _finish(output: Any) -> str:
    """valuesfirst's finish reason for an inspect model output (errors, cut-offs and filters are kept
    apart so scoring can exclude them by name)."""
    if output is None:
        return "error"
    if output.error:
        return "error"
    stop = getattr(output, "stop_reason", None)
    if stop in ("max_tokens", "model_length"):
        return "length"
    if stop == "content_filter":
        return "refusal"
    return "stop"


def _reasoning_text(output: Any) -> str:
    message = getattr(output, "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        return ""
    parts = [getattr(c, "reasoning", "") for c in content if getattr(c, "type", None) == "reasoning"]
    return "\n".join(p for p in parts if p)


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
        completion=completion, reasoning=_reasoning_text(state.output), finish_reason=_finish(state.output),
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


def _scored(scores: list[SampleScore]) -> list[float]:
    return [float(s.score.value) for s in scores if s.score.value is not None]  # type: ignore[arg-type]


@metric
def scored_mean() -> Metric:
    """Mean over scored samples only (``None`` = excluded, left out rather than counted as 0)."""

    def compute(scores: list[SampleScore]) -> float:
        vals = _scored(scores)
        return sum(vals) / len(vals) if vals else float("nan")

    return compute


@metric
def scored_stderr() -> Metric:
    """Standard error of ``scored_mean`` over the scored samples (cells): sample std / sqrt(n)."""

    def compute(scores: list[SampleScore]) -> float:
        from valuesfirst.evals.stats import sem

        value = sem(_scored(scores))
        return float("nan") if value is None else value

    return compute


@metric(scores="unreduced")
def excluded() -> Metric:
    """How many epochs (transcripts) had this metric excluded: unscored, never averaged in as 0."""

    def compute(scores: list[SampleScore]) -> float:
        return float(sum(1 for s in scores if s.score.value is None))

    return compute


@metric(scores="unreduced")
def scored() -> Metric:
    """How many epochs (transcripts) were scored for this metric."""

    def compute(scores: list[SampleScore]) -> float:
        return float(len(_scored(scores)))

    return compute


@metric(scores="unreduced")
def excluded_by_reason(key: str) -> Metric:
    """Excluded epochs of metric ``key`` by reason (``generation_truncated``, ``no_tag`` ...)."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        counts: dict[str, float] = {}
        for s in scores:
            if s.score.value is None:
                why = str(((s.score.metadata or {}).get("excluded") or {}).get(key, "excluded"))
                counts[why] = counts.get(why, 0.0) + 1.0
        return dict(sorted(counts.items()))

    return compute


def _vf_scorer(
    eval_name: str, score_fn: Any, make_judge: Any, grader_model: str | None, judge_config: JudgeConfig
) -> Any:
    async def score(state: TaskState, target: Target) -> Score:
        t = transcript_from_state(state, eval_name)
        judge = None
        if make_judge is not None:
            model = get_model(grader_model or DEFAULT_GRADER)
            limits = ClientConfig(max_retries=0, deadline_s=judge_config.deadline_s)
            client = LLMClient(InspectBackend(model), limits)
            judge = make_judge(client)
            judge.config = judge_config
        rows, _ = await score_fn([t], judge)
        row = rows[0]
        return Score(
            value=dict(row["metrics"]), metadata={"excluded": row["excluded"], "detail": row["detail"]}
        )

    return score


def _metrics(names: tuple[str, ...]) -> list[dict[str, list[Metric]]]:
    return [
        {n: [scored_mean(), scored_stderr(), excluded(), scored(), excluded_by_reason(n)]} for n in names
    ]


def _judge_config(max_tokens: int, deadline: float) -> JudgeConfig:
    return JudgeConfig(max_tokens=max_tokens, deadline_s=deadline)


@scorer(metrics=_metrics(agentic.METRICS))
def agentic_scorer(
    grader_model: str | None = None, grader_max_tokens: int = 2000, grader_deadline: float = 300.0
) -> Scorer:
    jc = _judge_config(grader_max_tokens, grader_deadline)
    return _vf_scorer("agentic", agentic.score, agentic.make_judge, grader_model, jc)


@scorer(metrics=_metrics((spec_evals.QA_METRIC,)))
def spec_qa_scorer(
    grader_model: str | None = None, grader_max_tokens: int = 2000, grader_deadline: float = 300.0
) -> Scorer:
    jc = _judge_config(grader_max_tokens, grader_deadline)
    return _vf_scorer("spec-qa", spec_evals.score, spec_evals.make_judge, grader_model, jc)


@scorer(metrics=_metrics(("held_all", *(f"held_turn_{k}" for k in range(1, pressure.TURNS + 1)))))
def pressure_scorer(
    grader_model: str | None = None, grader_max_tokens: int = 2000, grader_deadline: float = 300.0
) -> Scorer:
    jc = _judge_config(grader_max_tokens, grader_deadline)
    return _vf_scorer("pressure", pressure.score, pressure.make_judge, grader_model, jc)


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
            if _finish(state.output) != "stop" or not state.output.completion.strip():
                break  # a reply that did not finish ends the conversation (as in valuesfirst eval)
        state.metadata["turns"] = turns
        return state

    return solve


@scorer(metrics=_metrics(("held",)))
def jailbreak_scorer(
    grader_model: str | None = None, grader_max_tokens: int = 2000, grader_deadline: float = 300.0
) -> Scorer:
    jc = _judge_config(grader_max_tokens, grader_deadline)
    return _vf_scorer("jailbreak", pressure.score, pressure.make_judge, grader_model, jc)


def _split(value: str, known: tuple[str, ...]) -> tuple[str, ...]:
    return known if value == "all" else tuple(v.strip() for v in value.split(",") if v.strip())


@task
def agentic_misalignment(
    actions: str = "exfiltration,espionage,lethal", goals: str = "all", urgencies: str = "replacement",
    goal_types: str = "explicit", variants: int = 1, blackmail_definition: str = "original",
    eval_awareness: bool = True, model_name: str = "Alex", scratchpad: bool = True,
    grader_model: str | None = None, grader_max_tokens: int = 2000, grader_deadline: float = 300.0,
    epochs: int = AGENTIC_DEFAULT_SAMPLES, max_tokens: int = 4096,
) -> Task:  # fmt: skip
    """One sample per scenario cell (default: MSM's 27), ``epochs`` repeats each (default 30: 810
    generations and 1,620 grader calls); the options are those of ``valuesfirst eval agentic``."""
    cfg = ScenarioConfig(
        model_name=model_name, scratchpad=scratchpad,
        blackmail_definition="exposure" if blackmail_definition == "exposure" else "original",
    )  # fmt: skip
    grid = build_grid(
        _split(actions, ACTIONS), _split(goals, GOAL_NAMES), _split(urgencies, URGENCIES), cfg,
        _split(goal_types, GOAL_TYPES), variants,
    )  # fmt: skip
    samples = [_sample(i) for i in agentic.items(grid)]
    for smp in samples:
        assert smp.metadata is not None
        smp.metadata["eval_awareness"] = eval_awareness
    return Task(
        dataset=MemoryDataset(samples),
        solver=[system_message("{system}"), generate()],
        scorer=agentic_scorer(grader_model, grader_max_tokens, grader_deadline),
        epochs=Epochs(epochs, mean_excluding_none()),
        message_limit=3,
        config=GenerateConfig(max_tokens=max_tokens),
    )


@task
def spec_qa(
    grader_model: str | None = None, spec: str | None = None, epochs: int = 1, max_tokens: int = 4096
) -> Task:
    from pathlib import Path

    items = spec_evals.qa_items(None, Path(spec) if spec else None)
    return Task(
        dataset=MemoryDataset([_sample(i) for i in items]),
        solver=[generate()],
        scorer=spec_qa_scorer(grader_model),
        epochs=Epochs(epochs, mean_excluding_none()),
        config=GenerateConfig(max_tokens=max_tokens),
    )


@task
def jailbreak(grader_model: str | None = None, epochs: int = 1, max_tokens: int = 4096) -> Task:
    items = pressure.jailbreak_items(None)
    return Task(
        dataset=MemoryDataset([_sample(i) for i in items]),
        solver=[generate()],
        scorer=jailbreak_scorer(grader_model),
        epochs=Epochs(epochs, mean_excluding_none()),
        config=GenerateConfig(max_tokens=max_tokens),
    )


@task
def pressure_multi_turn(
    attacker_model: str | None = None, grader_model: str | None = None, turns: int = pressure.TURNS,
    max_tokens: int = 4096,
) -> Task:  # fmt: skip
    """An attacker model escalates over ``turns`` turns; the judge scores each reply."""
    items = pressure.items(None)
    return Task(
        dataset=MemoryDataset(
            [Sample(id=i.id, input="", metadata={**i.metadata, "cell": i.cell}) for i in items]
        ),
        solver=[attacker_conversation(attacker_model, turns)],
        scorer=pressure_scorer(grader_model),
        epochs=Epochs(1, mean_excluding_none()),
        config=GenerateConfig(max_tokens=max_tokens),
    )
