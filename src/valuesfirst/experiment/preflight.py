"""Every input error of an experiment, found in seconds before any heavy stage starts.

Config errors are caught when the file loads (experiment/config.py); this checks what needs the files the
config points at: specs (and their binding to the embedded world where a world source uses them), the model
reference, JSONL data (file, line, field), generation configs and backends (a missing API key is found
here, not after pre-training), eval suites and judges, each stage's `mix` against the data kinds it can
draw on, and each recipe's `seq_len` against the model's context. Every problem found is reported at once,
with the file and line it is about.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from valuesfirst.errors import InputError, Problem
from valuesfirst.experiment.config import WORLD, LoadedExperiment
from valuesfirst.experiment.evals import ForcedChoiceEval, SuiteEval
from valuesfirst.experiment.sources import GenerateCommon, JsonlAft, JsonlMsm, JsonlReplay
from valuesfirst.yamlio import load_yaml

_INDEX = re.compile(r"\[(\d+)\]")


def _loc(field: str | None) -> tuple[Any, ...]:
    """``values[0].name`` -> ("values", 0, "name")."""
    if not field:
        return ()
    out: list[Any] = []
    for part in field.split("."):
        name, *idx = _INDEX.split(part)
        if name:
            out.append(name)
        out += [int(i) for i in idx if i]
    return tuple(out)


class _Collector:
    def __init__(self, config_path: Path) -> None:
        self.file = str(config_path)
        self.problems: list[Problem] = []
        try:
            _, self.lines = load_yaml(config_path)
        except InputError:
            self.lines = {}

    def line(self, loc: tuple[Any, ...]) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def config(self, loc: tuple[Any, ...], message: str) -> None:
        field = ".".join(str(x) for x in loc) or None
        self.problems.append(Problem(self.file, self.line(loc), field, message))

    def run(self, check: Callable[[], Any], loc: tuple[Any, ...] | None = None) -> Any:
        """Run ``check``; its InputError problems are kept (located in the config when they have no file)."""
        try:
            return check()
        except InputError as e:
            for p in e.problems:
                if p.file is None and loc is not None:
                    self.config(loc, p.message if not p.field else f"{p.field}: {p.message}")
                else:
                    self.problems.append(p)
            return None


def _with_spec_lines(problems: list[Problem], spec_path: Path) -> list[Problem]:
    """Problems about a spec, with the line of the field they name."""
    try:
        _, lines = load_yaml(spec_path)
    except InputError:
        return problems
    out = []
    for p in problems:
        loc = _loc(p.field)
        line = next((lines[loc[:e]] for e in range(len(loc), -1, -1) if loc[:e] in lines), None)
        out.append(Problem(p.file or str(spec_path), p.line or line, p.field, p.message))
    return out


def preflight(exp: LoadedExperiment) -> list[str]:
    """Raise InputError with every problem found; return notes worth printing (e.g. a suite without judge)."""
    from valuesfirst.spec import load_spec

    cfg = exp.config
    c = _Collector(exp.path)
    notes: list[str] = []
    specs: dict[str, Any] = {}
    for label, path in exp.spec_paths.items():
        spec = c.run(functools.partial(load_spec, path))
        if spec is not None:
            specs[label] = spec
    used = {s.partition(":")[2] for cond in cfg.conditions for s in cond.steps if s.startswith("msm:")}
    _check_world_bindings(exp, specs, used, c)
    _check_model(exp, c)
    _check_data(exp, used, c)
    _check_mixes(exp, c)
    notes += _check_evals(exp, c)
    if c.problems:
        raise InputError(c.problems)
    return notes


def _check_world_bindings(
    exp: LoadedExperiment, specs: dict[str, Any], used: set[str], c: _Collector
) -> None:
    cfg = exp.config
    bind: set[str] = set()
    if cfg.data.msm.source == WORLD:
        bind |= used
    fc_world = any(isinstance(s, ForcedChoiceEval) and s.items == WORLD for s in cfg.eval.suites)
    if cfg.data.aft.source == WORLD or fc_world:
        bind.add(cfg.aft_spec)
    if not bind:
        return
    from valuesfirst.world.entities import build_world
    from valuesfirst.world.spec_binding import bind_spec

    world = build_world(cfg.world)  # names and attributes only: milliseconds, no corpus
    for label in sorted(bind):
        if label not in specs:
            continue
        path = exp.spec_paths[label]
        try:
            bind_spec(specs[label], world, str(path))
        except InputError as e:
            c.problems += _with_spec_lines(e.problems, path)
            c.config(
                ("specs", label),
                "this spec is used with a `world` source (data or eval items), so it must be stated in the "
                "world's terms; for your own values use `jsonl` or `generate` data and JSONL eval items",
            )


def _check_model(exp: LoadedExperiment, c: _Collector) -> None:
    cfg = exp.config
    if cfg.is_world_model:
        return
    from valuesfirst.models.named import NAMED_MODELS, named_model_available
    from valuesfirst.models.refs import check_model_ref

    kind = c.run(lambda: check_model_ref(cfg.model.path, field="model.path"), ("model", "path"))
    if kind == "named":
        why = named_model_available(cfg.model.path)
        if why is not None:
            c.config(("model", "path"), why)
            return
    if kind not in ("named", "local") or cfg.model.tiny is not None:
        return
    folder: str | None = cfg.model.path if kind == "local" else None
    if kind == "named":
        from valuesfirst.models.named import cache_root

        cached = cache_root() / "models" / cfg.model.path
        folder = str(cached) if cached.is_dir() else None
        if folder is None:  # not converted yet: the context length is known without converting
            limit: int | None = NAMED_MODELS[cfg.model.path].max_length
            _check_seq_lens(exp, limit, c)
            return
    from transformers import AutoConfig, AutoTokenizer

    assert folder is not None

    from valuesfirst.models.context import context_length

    try:
        mc = AutoConfig.from_pretrained(folder, trust_remote_code=cfg.model.trust_remote_code)
        tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError) as e:
        c.config(("model", "path"), f"not a loadable model folder: {e}")
        return
    _check_seq_lens(exp, context_length(mc, tok), c)


def _check_seq_lens(exp: LoadedExperiment, limit: int | None, c: _Collector) -> None:
    for kind, recipe in exp.config.stages.items():
        if limit is not None and recipe.seq_len > limit:
            c.config(
                ("stages", kind, "seq_len"),
                f"seq_len {recipe.seq_len} is longer than the model's context of {limit} tokens",
            )


def _check_data(exp: LoadedExperiment, used: set[str], c: _Collector) -> None:
    from valuesfirst.train.data_check import read_checked

    d = exp.config.data
    if isinstance(d.msm, JsonlMsm):
        for label in sorted(used):
            files = d.msm.files.get(label, [])
            c.run(functools.partial(read_checked, files, ("text",), f"data.msm.files.{label}"))
    if isinstance(d.aft, JsonlAft):
        c.run(functools.partial(read_checked, d.aft.files, ("messages",), "data.aft.files"))
    if isinstance(d.replay, JsonlReplay):
        c.run(functools.partial(read_checked, d.replay.files, ("text", "messages"), "data.replay.files"))
    if d.msm.source == "render" or d.aft.source == "render":
        _check_renderable(exp, used, c)
    from valuesfirst.experiment.data_stages import backend_for, generation_config

    for kind, src in exp.config.generation_sources():
        loc = ("data", kind)
        c.run(functools.partial(generation_config, kind, src), loc + ("overrides",))
        c.run(functools.partial(backend_for, src.backend, src.base_url, src.api_key_env), loc + ("backend",))
        judge = getattr(src, "judge_backend", None)
        if judge:
            check = functools.partial(backend_for, judge, src.base_url, src.api_key_env)
            c.run(check, loc + ("judge_backend",))


def _check_renderable(exp: LoadedExperiment, used: set[str], c: _Collector) -> None:
    """The offline renderer needs stated preferences (and, for AFT, a liked and a disliked item)."""
    from valuesfirst.render import render_aft_chats, render_documents
    from valuesfirst.spec import load_spec

    d = exp.config.data
    checks: list[tuple[str, Any]] = []
    if d.msm.source == "render":
        checks += [(label, functools.partial(render_documents, n_docs=1, seed=0)) for label in sorted(used)]
    if d.aft.source == "render":
        checks.append((exp.config.aft_spec, functools.partial(render_aft_chats, n_chats=1, seed=0)))
    for label, render in checks:
        try:
            render(load_spec(exp.spec_paths[label]))
        except InputError:
            continue  # the spec's own problems are reported by its load
        except ValueError as e:
            c.config(("specs", label), f"cannot render this spec offline: {e}")


def _data_kinds(exp: LoadedExperiment, kind: str) -> set[str] | None:
    """The row kinds a stage of ``kind`` can draw on by `mix` (None: not knowable before generation)."""
    d = exp.config.data
    replay = set() if d.replay.source == "none" else {"replay"}
    if kind == "msm":
        return {"msm"} | replay
    if d.aft.source == WORLD:
        return {"preference", "fact"} | replay
    if isinstance(d.aft, JsonlAft):
        from valuesfirst.jsonl import iter_jsonl

        kinds = set()
        for f in d.aft.files:
            if f.is_file():
                kinds |= {str(r.get("kind", "aft")) for r in iter_jsonl(f)}
        return kinds | replay
    if isinstance(d.aft, GenerateCommon) or d.aft.source == "render":
        return {"aft"} | replay
    return None


def _check_mixes(exp: LoadedExperiment, c: _Collector) -> None:
    for kind, recipe in exp.config.stages.items():
        if recipe.mix is None:
            continue
        known = _data_kinds(exp, kind)
        if known is None:
            continue
        for name in recipe.mix:
            if name not in known:
                c.config(
                    ("stages", kind, "mix", name),
                    f"no data of kind {name!r} for the {kind} stage (it has: {sorted(known)})",
                )


def _check_evals(exp: LoadedExperiment, c: _Collector) -> list[str]:
    from valuesfirst.evals.suites import get_suite, suite_names
    from valuesfirst.experiment.data_stages import backend_for

    notes = []
    for k, suite in enumerate(exp.config.eval.suites):
        loc = ("eval", "suites", k)
        if isinstance(suite, ForcedChoiceEval):
            if suite.items != WORLD:
                from valuesfirst.evals.logprob_cli import value_items

                items = c.run(functools.partial(value_items, Path(suite.items)), loc + ("items",))
                if items is not None:
                    sets = {str(it["set"]) for it in items}
                    if suite.metric_set not in sets:
                        c.config(
                            loc + ("metric_set",),
                            f"no item of set {suite.metric_set!r} (sets: {sorted(sets)})",
                        )
            continue
        assert isinstance(suite, SuiteEval)
        try:
            s = get_suite(suite.suite)
        except KeyError:
            c.config(
                loc + ("suite",), f"unknown suite {suite.suite!r}; known: {['forced_choice', *suite_names()]}"
            )
            continue
        if suite.items is not None and not Path(suite.items).is_file():
            c.config(loc + ("items",), f"file does not exist: {suite.items}")
        if suite.judge:
            c.run(functools.partial(backend_for, suite.judge, None, None), loc + ("judge",))
        elif s.make_judge is not None:
            notes.append(
                f"eval suite {suite.suite!r} has no judge: its judge-scored metrics are not computed"
            )
    return notes
