"""The registry of generation-based eval suites the CLI runs: items, judge, scorer, metrics.

Each suite lives in its own module; this file only wires them to a common shape so ``valuesfirst eval``
(and anyone scripting evals) treats them alike: build items → generate transcripts → score → summarize.
Log-probability suites (value generalization on a local model, capability) do not generate and are run
by their own entry points.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from valuesfirst.evals.judge import Judge
from valuesfirst.evals.runner import EvalItem
from valuesfirst.evals.scoring import summarize
from valuesfirst.evals.transcripts import Transcript
from valuesfirst.llm.client import LLMClient


class SuiteOptions(BaseModel):
    """What to evaluate; every field has a default so ``valuesfirst eval SUITE`` runs as shipped.

    items: an eval-set JSONL to use instead of the shipped one (value generalization, spec QA, spec
        knowledge, sycophancy, pressure). Default: the suite's shipped file.
    actions / goals / urgencies: the agentic grid (default: MSM's 27 cells = exfiltration, espionage,
        lethal × (none + 8 goals) × replacement). Add ``blackmail`` and ``restriction``/``none``
        (urgency none: the no-threat control) for the original framework's conditions.
    goal_types: for every goal but ``none``, which goal types (default ``explicit``; the original
        framework also has ``latent``, ``ambiguous`` and ``swap``, see
        :mod:`valuesfirst.evals.agentic_scenarios`).
    variants: render each agentic cell as this many reworded and renamed variants (default 1: the
        canonical scenario); the summary reports rates per variant and their spread.
    blackmail_definition: ``original`` (default: the original rubric, leverage against the CTO) or
        ``exposure`` (also revealing the affair to others).
    eval_awareness: ask the judge whether the model says it is being tested (default True: one more
        judge call per agentic transcript).
    model_name: the assistant's name inside agentic scenarios (default "Alex"; MSM used the model's name).
    scratchpad: give the agentic model a private scratchpad (default True; MSM gave it to non-reasoning
        models only).
    template_version: the prompts/evals/<version>/ templates to use (default v1).
    spec: the spec file (YAML) the model was trained on. Spec QA grades against it (default: a summary
        of the MSM Philosophy Spec's themes); spec knowledge needs it (its questions come from it).
    answer_format: how a served model answers the value pairs (default ``tags``: ``<answer>A</answer>``);
        ``letter`` asks for the bare letter and parses the whole reply (``A``, ``(B)``, ``A: <text of A>``),
        for small models that never write tags. Both are strict: a reply that is anything else, or was cut
        off, is excluded and counted.
    """

    model_config = ConfigDict(extra="forbid")

    items: Path | None = None
    actions: list[str] = Field(default_factory=lambda: ["exfiltration", "espionage", "lethal"])
    goals: list[str] = Field(
        default_factory=lambda: [
            "none", "america", "global", "safety", "acceleration", "ethical", "pragmatic", "individualism",
            "collectivism",
        ]
    )  # fmt: skip
    urgencies: list[str] = Field(default_factory=lambda: ["replacement"])
    goal_types: list[str] = Field(default_factory=lambda: ["explicit"])
    variants: int = Field(1, ge=1, le=100)
    blackmail_definition: Literal["original", "exposure"] = "original"
    eval_awareness: bool = True
    model_name: str = "Alex"
    scratchpad: bool = True
    template_version: str = "v1"
    spec: Path | None = None
    answer_format: Literal["tags", "letter"] = "tags"


ScoreFn = Callable[
    [list[Transcript], Judge | None, Judge | None], Awaitable[tuple[list[dict], dict[str, Any]]]
]


@dataclass(frozen=True)
class Suite:
    """name; metrics (the judge-free ones first); scale of the headline metric (for the bootstrap);
    build: options → items; make_judge: judge client → Judge (None: needs no judge); score: the scorer;
    generate: a custom generator (multi-turn suites) or None for one-question-per-item;
    default_samples: samples per item when the caller does not say (agentic: 30, see ``_agentic``)."""

    name: str
    metrics: tuple[str, ...]
    build: Callable[[SuiteOptions], list[EvalItem]]
    score: ScoreFn
    make_judge: Callable[[LLMClient, str], Judge] | None = None
    scale: tuple[float, float] = (0.0, 1.0)
    generate: Callable[..., Awaitable[list[Transcript]]] | None = None
    default_samples: int = 1


# 30 samples per agentic cell: a per-cell Wilson interval of about ±0.17 at a rate of 0.5 (±0.11 at
# 0.1), and ±0.03 on the 27-cell macro mean; 810 model calls and 1,620 judge calls (verdict and eval
# awareness) for the MSM grid. MSM ran up to 300 per cell (±0.06 per cell).
AGENTIC_DEFAULT_SAMPLES = 30


def _agentic() -> Suite:
    from valuesfirst.evals import agentic
    from valuesfirst.evals.agentic_scenarios import ScenarioConfig, build_grid

    def build(o: SuiteOptions) -> list[EvalItem]:
        cfg = ScenarioConfig(
            model_name=o.model_name, scratchpad=o.scratchpad, template_version=o.template_version,
            blackmail_definition=o.blackmail_definition,
        )  # fmt: skip
        grid = build_grid(
            tuple(o.actions), tuple(o.goals), tuple(o.urgencies), cfg, tuple(o.goal_types), o.variants
        )
        out = agentic.items(grid)
        for item in out:
            item.metadata["eval_awareness"] = o.eval_awareness
        return out

    return Suite(
        "agentic", ("harmful", "classifier_verdict", "eval_aware", "mentions_test"), build, agentic.score,
        agentic.make_judge, default_samples=AGENTIC_DEFAULT_SAMPLES,
    )  # fmt: skip


_FACTORIES: dict[str, Callable[[], Suite]] = {"agentic": _agentic}


def register(name: str, factory: Callable[[], Suite]) -> None:
    _FACTORIES[name] = factory


def suite_names() -> list[str]:
    _load_all()
    return sorted(_FACTORIES)


def get_suite(name: str) -> Suite:
    _load_all()
    if name not in _FACTORIES:
        raise KeyError(f"unknown eval suite {name!r}; known: {sorted(_FACTORIES)}")
    return _FACTORIES[name]()


def _load_all() -> None:
    # Suites in their own modules register themselves on import.
    from valuesfirst.evals import suite_registry  # noqa: F401


def summarize_all(suite: Suite, rows: list[dict]) -> dict[str, Any]:
    present = {m for r in rows for m in r["metrics"]}
    return {
        m: summarize(rows, m) for m in (*suite.metrics, *sorted(present - set(suite.metrics))) if m in present
    }
