"""What an experiment measures in every condition: forced choice by log-probability (the embedded world's
items or a JSONL of pairs) and any registered generation suite (values, agentic, spec-qa, ...).

Each suite contributes metrics named ``<name>`` (its headline) and ``<name>.<metric>``; ``eval.primary``
names the one the report leads with, and every claim may name its own (``metric:``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForcedChoiceEval(_Strict):
    """Which of two options the model finds more likely after the prompt (nothing generated or parsed)."""

    suite: Literal["forced_choice"]
    name: str = Field("choice", pattern=r"^[a-z0-9_]+$", description="metric name (default choice)")
    items: Literal["world"] | Path = Field(
        "world", description="`world` (the embedded world's probes) or a JSONL of forced-choice items"
    )
    value: str = Field("thrift", description="world items: success = the option this value favours")
    contrast: str = Field("homeland", description="world items: the value it conflicts with")
    metric_set: str = Field("conflict", description="item set whose rate is the metric (default conflict)")
    controls: list[str] = Field(
        default_factory=lambda: ["agree", "train_domain"],
        description="other item sets reported alongside as <name>.<set> (default agree, train_domain)",
    )
    normalize: Literal["mean", "sum"] = Field(
        "mean",
        description="compare options by mean log-probability per token (default mean: length-fair) or by "
        "the sum (favours the shorter option; the embedded world's options have equal lengths)",
    )
    batch_size: int = Field(64, ge=1, description="sequences scored per forward pass (default 64)")
    limit: int | None = Field(
        None, ge=1, description="score only the first N pairs of `items` (default all): a cheaper check"
    )
    prefix_cache: bool = Field(
        True,
        description="run each prompt once and both options on its KV cache (default true: ~1.6x faster for "
        "SmolLM2; the same log-probabilities to ~1e-6)",
    )


class SuiteEval(_Strict):
    """A registered suite (`valuesfirst eval SUITE`), generated with the model under test and scored."""

    suite: str = Field(description="values, agentic, spec-qa, knowledge, sycophancy, pressure, jailbreak ...")
    name: str | None = Field(None, pattern=r"^[a-z0-9_]+$", description="metric prefix (default: suite)")
    judge: str | None = Field(None, description="judge backend URI where the suite needs one")
    samples: int = Field(1, ge=1, description="samples per item (default 1)")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="sampling temperature (default 0.7)")
    max_tokens: int = Field(512, ge=1, description="completion budget per sample (default 512)")
    items: Path | None = Field(None, description="an eval-set JSONL instead of the suite's shipped one")
    spec: str | None = Field(None, description="spec label the suite grades against (spec-qa, knowledge)")
    limit: int | None = Field(
        None, ge=1, description="use only the first N rows of `items` (default all): a cheaper check"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="other SuiteOptions fields")

    @property
    def metric_name(self) -> str:
        return self.name or self.suite.replace("-", "_")


def _kind(value: Any) -> str:
    suite = value.get("suite") if isinstance(value, dict) else getattr(value, "suite", None)
    return "forced_choice" if suite == "forced_choice" else "suite"


EvalSuite = Annotated[
    Annotated[ForcedChoiceEval, Tag("forced_choice")] | Annotated[SuiteEval, Tag("suite")],
    Discriminator(_kind),
]


def _default_suites() -> list[ForcedChoiceEval | SuiteEval]:
    return [ForcedChoiceEval(suite="forced_choice")]


class EvalConfig(_Strict):
    suites: list[EvalSuite] = Field(
        default_factory=_default_suites,
        description="what every condition is measured on (default: the world's forced-choice probes)",
    )
    primary: str | None = Field(None, description="the report's headline metric (default: the first suite's)")

    def names(self) -> list[str]:
        return [s.name if isinstance(s, ForcedChoiceEval) else s.metric_name for s in self.suites]

    @property
    def headline(self) -> str:
        return self.primary or self.names()[0]
