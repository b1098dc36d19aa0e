"""Runs an experiment: conditions x seeds expanded into stages, each reused when its inputs are unchanged.

Stage graph, the same for every model::

  base model ──────────────────────────────┐   world: world ─► pretrain; otherwise a `model` stage
  msm_data[spec] ─┐                        │   (world, JSONL files or generation, per data source)
  aft_data ───────┼─► train stages (one chain per condition and seed) ─► eval[suite] ─► results, report
  replay ─────────┘
  eval items (forced choice) ──────────────┘

Data stages and the base model run in this process; the train/eval grid runs on ``workers`` processes.
Every input error is found by the preflight (experiment/preflight.py) before any of it starts.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from valuesfirst.artifacts import StageResult, StageSpec, StageStore, verify_stage
from valuesfirst.experiment.config import WORLD, LoadedExperiment
from valuesfirst.experiment.evals import ForcedChoiceEval
from valuesfirst.experiment.jobs import eval_job, eval_reused, stage_summary, train_job, train_reused
from valuesfirst.experiment.results import Runs, build_results
from valuesfirst.jsonl import read_jsonl, write_json
from valuesfirst.provenance import provenance
from valuesfirst.report import write_report
from valuesfirst.scheduler import Events, Job, run_jobs


def shared_stage_cache() -> Path | None:
    """The user's stage cache shared by run folders: ``$VALUESFIRST_STAGE_CACHE``, default
    ``$VALUESFIRST_CACHE/stages`` (``~/.cache/valuesfirst/stages``); ``off`` (or ``0``): none. The test
    suite turns it off, so no test reads a stage that a developer's earlier code or another test built."""
    from valuesfirst.models.named import cache_root

    env = os.environ.get("VALUESFIRST_STAGE_CACHE", "").strip()
    if env.lower() in ("off", "0", "none", "false"):
        return None
    return Path(env).expanduser() if env else cache_root() / "stages"


def chain_id(steps: list[str], seed: int) -> str:
    """The job (and stage label) of a chain prefix: ``msm:A→aft seed=0``; conditions sharing a prefix share
    its job, so MSM(A)-only and MSM(A)→AFT train ``msm:A seed=0`` once."""
    return f"{'→'.join(steps)} seed={seed}"


class Runner:
    """Executes one loaded experiment into ``run_dir`` with a progress display."""

    def __init__(
        self,
        exp: LoadedExperiment,
        run_dir: Path,
        console: Console | None = None,
        shared_cache: Path | None = None,
    ):
        """``shared_cache``: a folder of stages shared by every run folder of this user (the command passes
        ``$VALUESFIRST_CACHE/stages``; None: off). The world and its pre-trained base (minutes of CPU, the
        same for every experiment on one world config) are copied from it instead of rebuilt, and added to
        it after a build. Keys are the run folder's keys, so a cached stage is exactly the one a build
        would produce."""
        self.exp = exp
        self.cfg = exp.config
        self.run_dir = Path(run_dir)
        self.store = StageStore(self.run_dir)
        self.shared = StageStore(shared_cache) if shared_cache is not None else None
        self.console = console or Console()
        self.stage_log: list[dict] = []
        self.index: list[dict] = []
        self.progress: Progress | None = None
        self._overall: TaskID | None = None
        self._tasks: dict[str, TaskID] = {}

    # -- display -----------------------------------------------------------------------------------------
    def _started(self, label: str, total: int) -> None:
        if self.progress is not None:
            self._tasks[label] = self.progress.add_task(escape(label), total=max(total, 1))

    def _stepped(self, label: str, step: int, loss: float) -> None:
        if self.progress is not None and label in self._tasks:
            self.progress.update(
                self._tasks[label], completed=step + 1, description=escape(f"{label} loss {loss:.3f}")
            )

    def _finished(self, label: str, info: Mapping[str, Any]) -> None:
        if self.progress is not None:
            task = self._tasks.pop(label, None)
            if task is not None:
                self.progress.remove_task(task)
            if self._overall is not None:
                self.progress.advance(self._overall)
        status = "reused" if info["reused"] else f"ran in {info.get('duration_s') or 0:.1f}s"
        self.console.log(escape(f"{label}: {status} -> {Path(info['path']).name}"))
        entry = {k: info.get(k) for k in ("kind", "label", "key", "reused", "duration_s")}
        entry["folder"] = self._folder(info["path"])
        self.stage_log.append(entry)

    def _log(self, line: str) -> None:
        self.console.log(escape(line))

    def _run_here(
        self, spec: StageSpec, build: Callable[[Path], dict | None], total: int = 1, shared: bool = False
    ) -> StageResult:
        """Build ``spec`` here (or reuse it); ``shared``: through the user's shared cache as well."""
        label = spec.label or spec.kind
        self._started(label, total)
        result = self._from_shared(spec) if shared else None
        if result is None:
            result = self.store.run(spec, build)
            if shared and self.shared is not None:
                self._to_shared(result)
        self._finished(label, stage_summary(result, spec.kind, label))
        return result

    def _from_shared(self, spec: StageSpec) -> StageResult | None:
        """The shared cache's copy of ``spec`` moved into this run folder, when there is a sound one."""
        if self.shared is None or self.store.find(spec) is not None:
            return None  # no cache, or the run folder has it already: store.run reuses it
        cached = self.shared.find(spec)
        if cached is None:
            return None
        problems = verify_stage(cached.path)
        if problems:  # an edited or damaged cache entry is never trusted: build instead, and say why
            why = problems[0].message
            self._log(f"{spec.label}: shared copy {cached.path} fails verification ({why}); rebuilding")
            return None
        copied = self.store.copy_from(cached)
        self._log(f"{spec.label}: copied from the shared cache {cached.path}")
        return copied

    def _to_shared(self, result: StageResult) -> None:
        """Add a stage built here to the shared cache; a cache that cannot be written never fails the run."""
        assert self.shared is not None  # noqa: S101 - the caller checked
        try:
            if not (self.shared.stages_dir / result.path.name).exists():
                self.shared.copy_from(result)
        except OSError as e:
            self._log(f"could not add {result.path.name} to the shared cache {self.shared.root}: {e}")

    def _work(self, spec: StageSpec) -> Path:
        """A stable folder for a stage's resumable work (generation levels, caches), kept across kills."""
        return self.run_dir / "work" / self.store.path_for(spec).name

    # -- the base model ----------------------------------------------------------------------------------
    def world_stage(self) -> StageResult:
        cfg = self.cfg
        ev = cfg.world_eval()
        spec = StageSpec(
            "world",
            {"world": cfg.world.model_dump(), "value": ev.value, "contrast": ev.contrast},
            label="world",
        )
        from valuesfirst.world import build as wb

        return self._run_here(
            spec, lambda out: wb.build_world_stage(cfg.world, ev.value, ev.contrast, out), shared=True
        )

    def pretrain_stage(self, world: StageResult) -> StageResult:
        from valuesfirst.train.pretrain import pretrain

        cfg = self.cfg.pretrain

        def on_probe(step: int, gates: dict) -> None:
            shown = ", ".join(f"{k} {v['value']:.3f}{'✓' if v['passed'] else '✗'}" for k, v in gates.items())
            self.console.log(f"pretrain step {step}: {shown}")

        def build(out: Path) -> dict:
            texts = [r["text"] for r in read_jsonl(world.path / "pretrain.jsonl")]
            gates = read_jsonl(world.path / "gates.jsonl")
            info = pretrain(
                texts,
                gates,
                cfg,
                out / "model",
                on_probe=on_probe,
                on_step=functools.partial(self._stepped, "pretrain"),
            )
            write_json(out / "probes.json", info.pop("probes"))
            return info

        # One process (ranks 1) trains the bytes it always has: leave the field out of the key so that
        # stages built before the field existed are still found; several ranks make other bytes.
        key_config = cfg.model_dump(exclude={"ranks"} if cfg.ranks == 1 else set())
        spec = StageSpec("pretrain", key_config, {"world": world.path}, seed=cfg.seed, label="pretrain")
        return self._run_here(spec, build, total=cfg.max_steps + cfg.anneal_steps, shared=True)

    def model_stage(self) -> StageResult:
        """A real base model as a stage: its reference (and a local folder's content) enters every key."""
        from valuesfirst.models.refs import check_model_ref, resolve_model_ref
        from valuesfirst.train.lineage import Lineage

        source = self.cfg.model
        kind = check_model_ref(source.path, field="model.path")
        config: dict[str, Any] = {"kind": kind, "source": source.model_dump(mode="json", exclude={"path"})}
        inputs: dict[str, Path] = {}
        if kind == "local":
            inputs["folder"] = Path(source.path)
        else:
            config["ref"] = source.path
        if kind == "named":
            from valuesfirst.models.named import MARKER

            marker = Path(resolve_model_ref(source.path)) / MARKER  # converts on first use
            config["conversion"] = {k: v for k, v in read_json_file(marker).items() if k != "seconds"}

        def build(out: Path) -> dict:
            Lineage(source.path).write(out)
            return {"model": source.path, "kind": kind}

        return self._run_here(StageSpec("model", config, inputs, label=f"model[{source.path}]"), build)

    # -- data stages ------------------------------------------------------------------------------------
    def msm_data_stage(self, world: StageResult | None, label: str) -> StageResult:
        from valuesfirst.experiment.data_stages import build_msm, remove_work

        src, path = self.cfg.data.msm, self.exp.spec_paths[label]
        inputs: dict[str, Path] = {"spec": path}
        if world is not None and src.source == WORLD:
            inputs["world"] = world.path
        files = getattr(src, "files", None)
        if isinstance(files, dict):
            inputs.update({f"file{i}": f for i, f in enumerate(files[label])})
        spec = StageSpec(
            "msm_data",
            {"source": _source_key(src), "world": self._world_key(src.source)},
            inputs,
            seed=0,
            label=f"msm_data[{label}]",
        )
        work = self._work(spec)
        result = self._run_here(
            spec, lambda out: build_msm(src, label, path, self.cfg.world, work, out, self._log)
        )
        remove_work(work)  # generation levels and caches of a published stage are never needed again
        return result

    def aft_data_stage(self, world: StageResult | None) -> StageResult:
        from valuesfirst.experiment.data_stages import build_aft, remove_work

        src, path = self.cfg.data.aft, self.exp.spec_paths[self.cfg.aft_spec]
        inputs: dict[str, Path] = {"spec": path}
        if world is not None and src.source == WORLD:
            inputs["world"] = world.path
        inputs.update({f"file{i}": f for i, f in enumerate(getattr(src, "files", None) or [])})
        spec = StageSpec(
            "aft_data",
            {"source": _source_key(src), "world": self._world_key(src.source)},
            inputs,
            seed=0,
            label="aft_data",
        )
        work = self._work(spec)
        result = self._run_here(spec, lambda out: build_aft(src, path, self.cfg.world, work, out, self._log))
        remove_work(work)
        return result

    def replay_stage(self, world: StageResult | None) -> StageResult | None:
        from valuesfirst.experiment.data_stages import build_replay

        src = self.cfg.data.replay
        if src.source == "none":
            return None
        inputs: dict[str, Path] = {}
        if src.source == WORLD:
            assert world is not None
            inputs["world"] = world.path
        inputs.update({f"file{i}": f for i, f in enumerate(getattr(src, "files", None) or [])})
        spec = StageSpec(
            "replay",
            {"source": src.model_dump(mode="json", exclude={"files"})},
            inputs,
            seed=0,
            label="replay",
        )
        return self._run_here(spec, lambda out: build_replay(src, world.path if world else None, out))

    def eval_items_stage(self, world: StageResult) -> StageResult:
        from valuesfirst.world import build as wb

        path, ev = self.exp.spec_paths[self.cfg.aft_spec], self.cfg.world_eval()
        spec = StageSpec(
            "eval_items",
            {"world": self.cfg.world.model_dump(), "value": ev.value, "contrast": ev.contrast},
            {"world": world.path, "spec": path},
            label="eval_items",
        )
        return self._run_here(
            spec, lambda out: wb.build_eval_stage(self.cfg.world, path, ev.value, ev.contrast, out)
        )

    def _eval_threads(self) -> int:
        """Threads per evaluation in the grid: the cores shared by the workers."""
        import os

        return max(1, (os.cpu_count() or 1) // self.cfg.workers)

    def _suite_spec(self, suite: Any) -> str | None:
        label = getattr(suite, "spec", None)
        return str(self.exp.spec_paths[label]) if label else None

    def _world_key(self, source: str) -> dict | None:
        return self.cfg.world.model_dump() if source == WORLD else None

    # -- the grid: train chains and evaluations ---------------------------------------------------------
    def grid_jobs(
        self,
        base: StageResult,
        source: dict,
        msm_data: Mapping[str, StageResult],
        aft_data: StageResult,
        replay: StageResult | None,
        items: Mapping[str, str | None],
    ) -> tuple[list[Job], dict[tuple[str, str, int], str]]:
        """One job per distinct (chain prefix, seed) and one eval job per (condition, seed, suite)."""
        jobs: dict[str, Job] = {}
        evals: dict[tuple[str, str, int], str] = {}
        run_dir = str(self.run_dir)
        for cond in self.cfg.conditions:
            for seed in self.cfg.seeds if cond.steps else []:
                parent: str | None = None
                for i, step in enumerate(cond.steps):
                    kind, _, arg = step.partition(":")
                    job_id = chain_id(cond.steps[: i + 1], seed)
                    if job_id not in jobs:
                        data = msm_data[arg] if kind == "msm" else aft_data
                        kwargs = {
                            "run_dir": run_dir,
                            "kind": kind,
                            "recipe": self.cfg.stages[kind].model_dump(mode="json"),
                            "source": source,
                            "seed": seed,
                            "label": job_id,
                            "data_stage": str(data.path),
                            "replay_stage": str(replay.path) if replay is not None else None,
                            "checkpoint_every": self.cfg.checkpoint_every,
                        }
                        jobs[job_id] = Job(
                            job_id,
                            job_id,
                            train_job,
                            functools.partial(_with_model, kwargs, parent, str(base.path)),
                            deps=[parent] if parent else [],
                            total_steps=self.cfg.stages[kind].steps or 1,
                            reused=train_reused,
                        )
                    parent = job_id
                assert parent is not None
                for suite, name in zip(self.cfg.eval.suites, self.cfg.eval.names(), strict=True):
                    eval_id = f"eval[{cond.name}:{name}] seed={seed}"
                    kwargs = {
                        "run_dir": run_dir,
                        "source": source,
                        "suite": suite.model_dump(mode="json"),
                        "items": items[name],
                        "label": eval_id,
                        "spec_file": self._suite_spec(suite),
                        "threads": self._eval_threads(),
                    }
                    jobs[eval_id] = Job(
                        eval_id,
                        eval_id,
                        eval_job,
                        functools.partial(_with_model, kwargs, parent, str(base.path)),
                        deps=[parent],
                        reused=eval_reused,
                    )
                    evals[(name, cond.name, seed)] = eval_id
        return list(jobs.values()), evals

    def run(self) -> dict:
        t_start = time.perf_counter()
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        from valuesfirst.experiment.jobs import quiet_libraries

        quiet_libraries()
        write_json(self.run_dir / "config.resolved.json", cfg.model_dump(mode="json"))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        ) as progress:
            self.progress = progress
            world = self.world_stage() if cfg.needs_world() else None
            if cfg.is_world_model:
                assert world is not None
                base = self.pretrain_stage(world)
                source = cfg.model.model_copy(update={"path": str(base.path / "model")})
            else:
                base = self.model_stage()
                source = cfg.model
            source_json = source.model_dump(mode="json")
            used = {s.partition(":")[2] for c in cfg.conditions for s in c.steps if s.startswith("msm:")}
            msm_data = {label: self.msm_data_stage(world, label) for label in cfg.specs if label in used}
            aft_data = self.aft_data_stage(world)
            replay = self.replay_stage(world)
            items: dict[str, str | None] = {}
            for suite, name in zip(cfg.eval.suites, cfg.eval.names(), strict=True):
                if isinstance(suite, ForcedChoiceEval):
                    if suite.items == WORLD:
                        assert world is not None
                        items[name] = str(self.eval_items_stage(world).path)
                    else:
                        items[name] = str(suite.items)
                else:
                    items[name] = str(suite.items) if suite.items is not None else None
            base_evals: dict[str, str] = {}
            for suite, name in zip(cfg.eval.suites, cfg.eval.names(), strict=True):
                label = f"eval[base:{name}]"
                self._started(label, 1)
                suite_json = suite.model_dump(mode="json")
                run_dir, spec = str(self.run_dir), self._suite_spec(suite)
                info = eval_job(run_dir, str(base.path), source_json, suite_json, items[name], label, spec)
                self._finished(label, info)
                base_evals[name] = info["path"]
            jobs, evals = self.grid_jobs(base, source_json, msm_data, aft_data, replay, items)
            self._overall = progress.add_task("experiment grid", total=len(jobs))
            events = Events(
                on_start=lambda j: self._started(j.label, j.total_steps),
                on_step=lambda j, s, loss: self._stepped(j.label, s, loss),
                on_done=lambda j, r: self._finished(j.label, r),
            )
            done = run_jobs(jobs, cfg.workers, events)
            self.progress = None
        runs: dict[str, dict[tuple[str, int], Path]] = {name: {} for name in cfg.eval.names()}
        for cond in cfg.conditions:
            for seed in cfg.seeds if cond.steps else [0]:
                for name in cfg.eval.names():
                    path = done[evals[(name, cond.name, seed)]]["path"] if cond.steps else base_evals[name]
                    runs[name][(cond.name, seed)] = Path(path)
        self.index = self.stage_index(base, done, runs)
        results = self.results(base, runs, time.perf_counter() - t_start)
        write_report(self.run_dir, results)
        return results

    def _folder(self, path: str | Path) -> str:
        """A stage folder as the report links it: relative to the run folder when inside it."""
        folder, run_dir = Path(path).resolve(), self.run_dir.resolve()
        return str(folder.relative_to(run_dir) if folder.is_relative_to(run_dir) else folder)

    def stage_index(
        self, base: StageResult, done: Mapping[str, dict], runs: Mapping[str, Runs]
    ) -> list[dict]:
        """Where each condition's stages and evaluations are, per seed: the report's "where is MSM(A)→AFT
        seed 0" table, written from the grid itself rather than parsed back out of stage labels."""
        rows: list[dict[str, Any]] = []
        for cond in self.cfg.conditions:
            if not cond.steps:
                rows.append({"condition": cond.name, "seed": None, "step": "base model",
                             "folder": self._folder(base.path)})  # fmt: skip
            for seed in self.cfg.seeds if cond.steps else [0]:
                for i, step in enumerate(cond.steps):
                    folder = self._folder(done[chain_id(cond.steps[: i + 1], seed)]["path"])
                    rows.append({"condition": cond.name, "seed": seed, "step": step, "folder": folder})
                for name in self.cfg.eval.names():
                    folder = self._folder(runs[name][(cond.name, seed)])
                    rows.append({"condition": cond.name, "seed": seed if cond.steps else None,
                                 "step": f"eval {name}", "folder": folder})  # fmt: skip
        return rows

    def results(self, base: StageResult, runs: dict, duration: float) -> dict[str, Any]:
        cfg = self.cfg
        built = build_results(cfg, runs)
        outputs = base.manifest.get("outputs", {})
        gates = {
            k: {"value": v["value"], "threshold": v["threshold"], "passed": v["passed"]}
            for k, v in outputs.get("gates", {}).items()
        }
        return {
            "title": cfg.title,
            "description": cfg.description,
            "metric": cfg.metric,
            "headline_metric": cfg.eval.headline,
            "model": cfg.model.path,
            "quick": self.exp.quick,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "run_dir": str(self.run_dir),
            "duration_s": round(duration, 1),
            "conditions": built["conditions"],
            "condition_order": [c.name for c in cfg.conditions],
            "claims": built["claims"],
            "metrics": built["metrics"],
            "gates": gates,
            "pretrain": {k: v for k, v in outputs.items() if k != "gates"} if cfg.is_world_model else {},
            "stages": self.stage_log,
            "stage_index": self.index,
            "provenance": {
                **provenance(),
                "config_file": str(self.exp.path),
                "spec_files": {k: str(v) for k, v in self.exp.spec_paths.items()},
            },
            "config": cfg.model_dump(mode="json"),
        }


def read_json_file(path: Path) -> dict[str, Any]:
    import json

    return dict(json.loads(path.read_text(encoding="utf-8")))


def _with_model(kwargs: dict, parent: str | None, base_path: str, results: Mapping[str, dict]) -> dict:
    """Fill in the input model: the parent job's output, or the base model for a chain's first stage."""
    return {**kwargs, "model_stage": results[parent]["path"] if parent else base_path}


def _source_key(src: Any) -> dict[str, Any]:
    """A data source's settings as its stage key holds them: files enter as inputs (by content), a file
    of endpoint URLs as the URLs it lists (so the key does not move with the folder), and a
    generation's ``engine`` override is left out: it picks the transport of the calls (client or Ray),
    not the corpus, which the level caches make identical either way, so switching engines resumes."""
    key = src.model_dump(mode="json", exclude={"files"})
    urls = key.get("base_url")
    if isinstance(urls, str) and urls.strip().startswith("@"):  # the URLs the file lists, not its location
        from valuesfirst.llm.factory import parse_base_urls

        key["base_url"] = ",".join(parse_base_urls(urls, field="base_url"))
    overrides = key.get("overrides")
    if isinstance(overrides, dict) and "engine" in overrides:
        key["overrides"] = {k: v for k, v in overrides.items() if k != "engine"}
    return key
