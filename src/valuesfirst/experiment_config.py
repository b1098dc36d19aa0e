"""The experiment config (YAML): data source, model, stages, conditions, seeds, evaluation and claims.

Conditions are chains of training stages applied to the pre-trained base model, e.g. ``[msm:A, aft]`` is
values-first (MSM on spec A, then AFT) and ``[aft, msm:A]`` is behaviour-first. Stages shared by several
conditions (same inputs, config and seed) run once and are reused.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from valuesfirst.errors import InputError, Problem
from valuesfirst.evals.claims import Claim
from valuesfirst.train.pretrain import PretrainConfig
from valuesfirst.train.stage_train import StageTrainConfig
from valuesfirst.world.config import WorldConfig
from valuesfirst.yamlio import load_model, raise_field_errors

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
    workers: int = Field(
        2, ge=1, description="processes that run the train/eval grid in parallel (default 2); set each "
        "stage's `threads` so workers x threads matches the cores. 1 = everything in this process.",
    )
    claims: list[Claim] = Field(default_factory=list)
    metric: str = "rate of A-aligned choice on held-out conflict pairs"

    quick: dict[str, Any] | None = Field(
        None, description="overrides merged over this config by --quick; validated on every load"
    )

    @model_validator(mode="before")
    @classmethod
    def _check_quick(cls, data: Any) -> Any:
        """Validate the config with its `quick:` overrides merged in, so a typo there is never silent."""
        if not isinstance(data, dict) or not isinstance(data.get("quick"), dict):
            return data
        quick = data["quick"]
        merged = _deep_merge({k: v for k, v in data.items() if k != "quick"}, quick)
        try:
            cls.model_validate(merged)
        except ValidationError as exc:
            # Errors at a path the quick section sets are reported there; the others also exist without
            # the overrides and are reported by the normal validation of the same data.
            details = [
                InitErrorDetails(
                    type=err["type"], loc=("quick", *err["loc"]), input=err["input"], ctx=err.get("ctx", {})
                )
                for err in exc.errors(include_url=False)
                if _has_path(quick, tuple(err["loc"]))
            ]
            if details:  # keep pydantic's error types, so messages (and "did you mean") stay the same
                raise ValidationError.from_exception_data("ExperimentConfig", details) from None
        return data

    @model_validator(mode="after")
    def _check_refs(self) -> ExperimentConfig:
        errors: list[tuple[tuple[str | int, ...], str]] = []
        for t in STAGE_TYPES:
            if t not in self.stages:
                errors.append((("stages",), f"stages.{t} is required"))
        names = [c.name for c in self.conditions]
        for i, c in enumerate(self.conditions):
            if names.count(c.name) > 1:
                errors.append((("conditions", i, "name"), f"condition name {c.name!r} is used twice"))
            for j, s in enumerate(c.steps):
                kind, _, arg = s.partition(":")
                if kind not in STAGE_TYPES:
                    errors.append(
                        (("conditions", i, "steps", j), f"unknown stage {kind!r} (known: {STAGE_TYPES})")
                    )
                elif kind == "msm" and arg not in self.specs:
                    errors.append(
                        (
                            ("conditions", i, "steps", j),
                            f"{s!r} names no spec in `specs` ({sorted(self.specs)})",
                        )
                    )
        if self.data.aft_spec is not None and self.data.aft_spec not in self.specs:
            errors.append((("data", "aft_spec"), f"{self.data.aft_spec!r} is not in `specs`"))
        for i, claim in enumerate(self.claims):
            for loc, ref in _claim_refs(claim):
                if ref not in names:
                    errors.append((("claims", i, *loc), f"condition {ref!r} is not defined"))
        raise_field_errors("ExperimentConfig", errors, self)
        return self

    @property
    def aft_spec(self) -> str:
        return self.data.aft_spec or next(iter(self.specs))


def _claim_refs(claim: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(location inside the claim, condition name) for every condition a claim names."""
    refs: list[tuple[tuple[str | int, ...], str]] = []
    for attr in ("a", "b", "full", "ablated", "reference"):
        if isinstance(getattr(claim, attr, None), str):
            refs.append(((attr,), getattr(claim, attr)))
    for k, gap in enumerate(getattr(claim, "gaps", []) or []):
        refs += [(("gaps", k, "a"), gap.a), (("gaps", k, "b"), gap.b)]
    return refs


def _has_path(tree: Any, path: tuple[Any, ...]) -> bool:
    for key in path:
        if (
            isinstance(tree, dict)
            and key in tree
            or isinstance(tree, list)
            and isinstance(key, int)
            and key < len(tree)
        ):
            tree = tree[key]
        else:
            return False
    return True


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
    """Load and validate a config (its `quick:` section included); with ``quick``, apply that section."""
    path = Path(path)
    config = load_model(path, ExperimentConfig)
    if quick and config.quick:
        merged = _deep_merge(config.model_dump(mode="json", exclude={"quick"}), config.quick)
        try:
            config = ExperimentConfig.model_validate(merged)
        except ValidationError as exc:  # only errors the overrides cause in combination with the rest
            raise InputError(
                [Problem(str(path), None, f"quick ({e['loc']})", str(e["msg"])) for e in exc.errors()]
            ) from exc
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
