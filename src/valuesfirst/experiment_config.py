"""The experiment config (YAML): data source, model, stages, conditions, seeds, evaluation and claims.

Conditions are chains of training stages applied to the pre-trained base model, e.g. ``[msm:A, aft]`` is
values-first (MSM on spec A, then AFT) and ``[aft, msm:A]`` is behaviour-first. Stages shared by several
conditions (same inputs, config and seed) run once and are reused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from valuesfirst.errors import InputError, Problem
from valuesfirst.evals.claims import Claim
from valuesfirst.train.pretrain import PretrainConfig
from valuesfirst.train.stage_train import StageTrainConfig
from valuesfirst.world.config import WorldConfig
from valuesfirst.yamlio import load_model, load_yaml

STAGE_TYPES = ("msm", "aft")


class ConditionConfig(BaseModel):
    """One condition: a label and the chain of stages that produces its models (one per seed)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    description: str = ""
    steps: list[str] = Field(default_factory=list, description="e.g. ['msm:A', 'aft']; [] is the base model")


class EvalConfig(BaseModel):
    """Which value the metric counts as success, and against which value it is tested."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field("thrift", description="success = the option this world value favours (default thrift)")
    contrast: str = Field("homeland", description="the value it conflicts with in the metric's pairs")
    metric_set: str = Field("conflict", description="item set whose rate is the metric (default conflict)")
    controls: list[str] = Field(
        default_factory=lambda: ["agree", "train_domain"],
        description="other item sets reported alongside (default agree, train_domain)",
    )


class DataConfig(BaseModel):
    """Sizes of the generated stage datasets."""

    model_config = ConfigDict(extra="forbid")

    msm_docs: int = Field(4000, ge=1, description="MSM documents per spec (default 4000)")
    aft_spec: str | None = Field(
        None, description="spec whose stated preferences define AFT data (default: first)"
    )
    aft_fact_chats: int = Field(
        2000, ge=0, description="assistant fact Q&A chats in the AFT data (default 2000)"
    )
    replay_docs: int = Field(
        20000, ge=1, description="pre-training documents sampled for replay (default 20000)"
    )


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    description: str = ""
    source: str = Field("world", pattern="^world$", description="data and model source (default world)")
    world: WorldConfig = Field(default_factory=WorldConfig)
    specs: dict[str, str] = Field(description="label -> spec file, relative to this config file")
    data: DataConfig = Field(default_factory=DataConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    stages: dict[str, StageTrainConfig] = Field(default_factory=dict, description="msm and aft stage configs")
    eval: EvalConfig = Field(default_factory=EvalConfig)
    conditions: list[ConditionConfig]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    claims: list[Claim] = Field(default_factory=list)
    metric: str = "rate of A-aligned choice on held-out conflict pairs"

    @model_validator(mode="after")
    def _check_refs(self) -> ExperimentConfig:
        for t in STAGE_TYPES:
            if t not in self.stages:
                raise ValueError(f"stages.{t} is required")
        names = [c.name for c in self.conditions]
        if len(set(names)) != len(names):
            raise ValueError("condition names must be unique")
        for c in self.conditions:
            for s in c.steps:
                kind, _, arg = s.partition(":")
                if kind not in STAGE_TYPES:
                    raise ValueError(f"condition {c.name}: unknown stage {kind!r} (known: {STAGE_TYPES})")
                if kind == "msm" and arg not in self.specs:
                    raise ValueError(f"condition {c.name}: step {s!r} names no spec in `specs`")
        if self.data.aft_spec is not None and self.data.aft_spec not in self.specs:
            raise ValueError(f"data.aft_spec {self.data.aft_spec!r} is not in `specs`")
        for claim in self.claims:
            for ref in _claim_refs(claim):
                if ref not in names:
                    raise ValueError(f"claim {claim.id}: condition {ref!r} is not defined")
        return self

    @property
    def aft_spec(self) -> str:
        return self.data.aft_spec or next(iter(self.specs))


def _claim_refs(claim: Any) -> list[str]:
    refs = []
    for attr in ("a", "b", "full", "ablated", "reference"):
        if isinstance(getattr(claim, attr, None), str):
            refs.append(getattr(claim, attr))
    for gap in getattr(claim, "gaps", []) or []:
        refs += [gap.a, gap.b]
    return refs


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class LoadedExperiment(BaseModel):
    config: ExperimentConfig
    path: Path
    spec_paths: dict[str, Path]


def load_experiment(path: Path, *, quick: bool = False) -> LoadedExperiment:
    """Load and validate a config; with ``quick``, its ``quick:`` section is merged over it first."""
    path = Path(path)
    data, _ = load_yaml(path)
    if not isinstance(data, dict):
        raise InputError([Problem(str(path), 1, None, "the config must be a mapping")])
    quick_over = data.pop("quick", None)
    if quick and quick_over:
        data = _deep_merge(data, quick_over)
    config = load_model(path, ExperimentConfig, data=data)
    spec_paths = {}
    problems = []
    for label, rel in config.specs.items():
        p = (path.parent / rel).resolve()
        if not p.is_file():
            problems.append(Problem(str(path), None, f"specs.{label}", f"spec file not found: {p}"))
        spec_paths[label] = p
    if problems:
        raise InputError(problems)
    return LoadedExperiment(config=config, path=path.resolve(), spec_paths=spec_paths)
