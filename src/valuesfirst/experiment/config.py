"""The experiment config (YAML): model source, data sources, stage recipes, conditions, seeds, evals, claims.

One schema for every model. ``model.path`` is ``world`` (the embedded world's tiny model, pre-trained from
scratch and cached like any stage), a named shipped model (``smollm2-135m-instruct``), a local folder or a
hub id. Conditions are chains of training stages applied to that base model, e.g. ``[msm:A, aft]`` is
values-first (MSM on spec A, then AFT) and ``[aft, msm:A]`` is behaviour-first. Stages shared by several
conditions (same inputs, recipe and seed) run once and are reused. Every relative path in the file (specs,
JSONL data, eval items, a local model) is resolved against the folder the config file is in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from valuesfirst.errors import InputError, Problem
from valuesfirst.evals.claims import Claim
from valuesfirst.experiment.evals import EvalConfig, ForcedChoiceEval, SuiteEval
from valuesfirst.experiment.sources import DataConfig, GenerateCommon, JsonlMsm

# parse_overrides is re-exported: it lived here before `train --set` shared it.
from valuesfirst.overrides import apply_overrides, deep_merge
from valuesfirst.overrides import parse_overrides as parse_overrides
from valuesfirst.train.pretrain_config import PretrainConfig
from valuesfirst.train.recipe import Recipe
from valuesfirst.train.train_config import ModelSource
from valuesfirst.world.config import WorldConfig
from valuesfirst.yamlio import load_model, raise_field_errors

STAGE_TYPES = ("msm", "aft")
WORLD = "world"


class ConditionConfig(BaseModel):
    """One condition: a label and the chain of stages that produces its models (one per seed)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    description: str = ""
    steps: list[str] = Field(default_factory=list, description="e.g. ['msm:A', 'aft']; [] is the base model")


class ExperimentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    description: str = ""
    model: ModelSource = Field(
        default_factory=lambda: ModelSource(path=WORLD),
        description="`world` (default), a named model (smollm2-135m-instruct), a local folder or a hub id",
    )
    world: WorldConfig = Field(default_factory=WorldConfig, description="the embedded world (world sources)")
    pretrain: PretrainConfig = Field(
        default_factory=PretrainConfig, description="pre-training of the world model (model.path: world)"
    )
    specs: dict[str, str] = Field(description="label -> spec file, relative to this config file")
    data: DataConfig = Field(default_factory=DataConfig)
    stages: dict[str, Recipe] = Field(
        default_factory=dict, description="the recipe of each stage kind: msm and aft (train/recipe.py)"
    )
    eval: EvalConfig = Field(default_factory=EvalConfig)
    conditions: list[ConditionConfig]
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    workers: int = Field(
        2,
        ge=1,
        description="processes that run the train/eval grid in parallel (default 2); set each "
        "recipe's `threads` so workers x threads matches the cores. 1 = everything in this process.",
    )
    checkpoint_every: int = Field(
        0,
        ge=0,
        description="resumable checkpoint every N steps of a training stage (default 0: none; a "
        "killed run then restarts the interrupted stage, finished stages are always reused)",
    )
    claims: list[Claim] = Field(default_factory=list)
    metric: str = "rate of A-aligned choice on held-out conflict pairs"

    quick: dict[str, Any] | None = Field(
        None, description="overrides merged over this config by --quick; validated on every load"
    )
    variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="named override sets chosen with --variant NAME (e.g. `full:` adding conditions); "
        "validated on every load like `quick:`",
    )

    @model_validator(mode="before")
    @classmethod
    def _check_quick(cls, data: Any) -> Any:
        """Validate the config with each override section merged in, so a typo there is never silent."""
        if not isinstance(data, dict):
            return data
        sections: list[tuple[tuple[str, ...], Any]] = [(("quick",), data.get("quick"))]
        variants = data.get("variants")
        if isinstance(variants, dict):
            sections += [(("variants", str(k)), v) for k, v in variants.items()]
        base = {k: v for k, v in data.items() if k not in ("quick", "variants")}
        for where, over in sections:
            if not isinstance(over, dict):
                continue
            try:
                cls.model_validate(deep_merge(base, over))
            except ValidationError as exc:
                # Errors at a path the section sets are reported there; the others also exist without
                # the overrides and are reported by the normal validation of the same data.
                details = [
                    InitErrorDetails(
                        type=err["type"],
                        loc=(*where, *err["loc"]),
                        input=err["input"],
                        ctx=err.get("ctx", {}),
                    )
                    for err in exc.errors(include_url=False)
                    if _has_path(over, tuple(err["loc"]))
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
        for t in self.stages:
            if t not in STAGE_TYPES:
                errors.append((("stages", t), f"unknown stage kind {t!r} (known: {STAGE_TYPES})"))
        names = [c.name for c in self.conditions]
        used_specs: set[str] = set()
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
                elif kind == "msm":
                    used_specs.add(arg)
        if self.data.aft_spec is not None and self.data.aft_spec not in self.specs:
            errors.append((("data", "aft_spec"), f"{self.data.aft_spec!r} is not in `specs`"))
        if isinstance(self.data.msm, JsonlMsm):
            for label in sorted(used_specs - set(self.data.msm.files)):
                errors.append((("data", "msm", "files"), f"no JSONL files for spec {label!r}"))
        if self.model.path == WORLD and self.model.tiny is not None:
            errors.append((("model", "tiny"), "the world model is built by `pretrain.model`, not model.tiny"))
        metric_names = self.eval.names()
        for k, n in enumerate(metric_names):
            if metric_names.count(n) > 1:
                errors.append((("eval", "suites", k, "name"), f"metric name {n!r} is used twice"))
        for k, suite in enumerate(self.eval.suites):
            if isinstance(suite, SuiteEval) and suite.spec is not None and suite.spec not in self.specs:
                errors.append((("eval", "suites", k, "spec"), f"{suite.spec!r} is not in `specs`"))
        if self.eval.primary is not None and _metric_root(self.eval.primary) not in metric_names:
            errors.append((("eval", "primary"), f"{self.eval.primary!r} is no metric of eval.suites"))
        for i, claim in enumerate(self.claims):
            for loc, ref in _claim_refs(claim):
                if ref not in names:
                    errors.append((("claims", i, *loc), f"condition {ref!r} is not defined"))
            metric = getattr(claim, "metric", None)
            if metric is not None and _metric_root(metric) not in metric_names:
                errors.append((("claims", i, "metric"), f"{metric!r} is no metric of eval.suites"))
        raise_field_errors("ExperimentConfig", errors, self)
        return self

    @property
    def aft_spec(self) -> str:
        return self.data.aft_spec or next(iter(self.specs))

    @property
    def is_world_model(self) -> bool:
        return self.model.path == WORLD

    def needs_world(self) -> bool:
        fc_world = any(isinstance(s, ForcedChoiceEval) and s.items == WORLD for s in self.eval.suites)
        return self.is_world_model or self.data.uses_world() or fc_world

    def world_eval(self) -> ForcedChoiceEval:
        """The forced-choice suite on the world's items (its value and contrast also shape the world's
        pre-training gates); a default one when none is configured."""
        for s in self.eval.suites:
            if isinstance(s, ForcedChoiceEval) and s.items == WORLD:
                return s
        return ForcedChoiceEval(suite="forced_choice")

    def generation_sources(self) -> list[tuple[str, GenerateCommon]]:
        return [
            (k, s)
            for k, s in (("msm", self.data.msm), ("aft", self.data.aft))
            if isinstance(s, GenerateCommon)
        ]


def _metric_root(metric: str) -> str:
    return metric.split(".", 1)[0]


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


class LoadedExperiment(BaseModel):
    """A validated config with every relative path resolved against its folder."""

    config: ExperimentConfig
    path: Path
    spec_paths: dict[str, Path]
    quick: bool = False
    variants: list[str] = Field(default_factory=list)


def _resolve(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else (base / p).resolve()


def _resolved_paths(config: ExperimentConfig, base: Path) -> ExperimentConfig:
    """The config with its data, eval and model paths made absolute (relative to ``base``)."""
    data = config.model_dump(mode="python")
    d = data["data"]
    for kind in ("msm", "aft", "replay"):
        src = d[kind]
        files = src.get("files")
        if isinstance(files, dict):
            src["files"] = {k: [_resolve(base, Path(f)) for f in v] for k, v in files.items()}
        elif isinstance(files, list):
            src["files"] = [_resolve(base, Path(f)) for f in files]
        if src.get("config") is not None:
            src["config"] = _resolve(base, Path(src["config"]))
        urls = src.get("base_url")
        if isinstance(urls, str) and urls.strip().startswith("@"):  # a file of endpoint URLs
            src["base_url"] = "@" + str(_resolve(base, Path(urls.strip()[1:].strip()).expanduser()))
    for s in data["eval"]["suites"]:
        if s.get("items") not in (None, WORLD):
            s["items"] = _resolve(base, Path(s["items"]))
    path = str(data["model"]["path"])
    if path != WORLD and (path.startswith((".", "~")) or (base / path).exists()):
        data["model"]["path"] = str(_resolve(base, Path(path).expanduser()))
    return ExperimentConfig.model_validate(data)


def load_experiment(
    path: Path,
    *,
    quick: bool = False,
    overrides: dict[str, Any] | None = None,
    variants: list[str] | None = None,
) -> LoadedExperiment:
    """Load and validate a config (its `quick:` section included); with ``quick``, apply that section;
    ``overrides`` (from ``--set``) are merged last, and validated with the field they name."""
    path = Path(path)
    config = load_model(path, ExperimentConfig)
    config = apply_overrides(config, overrides or {})
    sections = [(f"variants.{v}", config.variants.get(v)) for v in variants or []]
    if quick:
        sections.append(("quick", config.quick))
    for name, over in sections:
        if over is None:
            if name != "quick":
                known = sorted(config.variants)
                raise InputError.single(
                    f"no variant {name.split('.', 1)[1]!r} (known: {known})", field="--variant"
                )
            continue
        merged = deep_merge(config.model_dump(mode="json", exclude={"quick", "variants"}), over)
        try:
            config = ExperimentConfig.model_validate(
                {**merged, "quick": config.quick, "variants": config.variants}
            )
        except ValidationError as exc:  # only errors the overrides cause in combination with the rest
            raise InputError(
                [Problem(str(path), None, f"{name} ({e['loc']})", str(e["msg"])) for e in exc.errors()]
            ) from exc
    base = path.resolve().parent
    config = _resolved_paths(config, base)
    spec_paths = {}
    problems = []
    for label, rel in config.specs.items():
        p = _resolve(base, Path(rel))
        if not p.is_file():
            problems.append(Problem(str(path), None, f"specs.{label}", f"spec file not found: {p}"))
        spec_paths[label] = p
    if problems:
        raise InputError(problems)
    return LoadedExperiment(
        config=config, path=path.resolve(), spec_paths=spec_paths, quick=quick, variants=list(variants or [])
    )
