"""Runs an experiment: conditions x seeds expanded into stages, each reused when its inputs are unchanged.

Stage graph (world source):
  world ─┬─ pretrain ───────────────┐
         ├─ msm_data[spec] ──┐      │
         ├─ aft_data ────────┼─► train stages (one chain per condition and seed) ─► eval ─► results, report
         └─ eval_items ──────┘
Data stages and pre-training run in this process; the train/eval grid runs on ``workers`` processes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import transformers
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from valuesfirst.artifacts import StageResult, StageSpec, StageStore
from valuesfirst.evals.claims import evaluate_claims
from valuesfirst.evals.stats import summarize_condition
from valuesfirst.experiment_config import LoadedExperiment
from valuesfirst.jsonl import read_jsonl, write_json
from valuesfirst.models.logprob import pair_scores, set_rates
from valuesfirst.provenance import provenance
from valuesfirst.report import write_report
from valuesfirst.scheduler import Events, Job, run_jobs
from valuesfirst.stage_jobs import eval_job, stage_summary, train_job
from valuesfirst.train.pretrain import pretrain
from valuesfirst.world import build as wb

# transformers' per-load progress bars would drown the stage progress display
transformers.utils.logging.disable_progress_bar()


class Runner:
    """Executes one loaded experiment into ``run_dir`` with a progress display."""

    def __init__(self, exp: LoadedExperiment, run_dir: Path, console: Console | None = None):
        self.exp = exp
        self.cfg = exp.config
        self.run_dir = Path(run_dir)
        self.store = StageStore(self.run_dir)
        self.console = console or Console()
        self.stage_log: list[dict] = []
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
        self.stage_log.append({k: info.get(k) for k in ("kind", "label", "key", "reused", "duration_s")})

    def _run_here(self, spec: StageSpec, build: Callable[[Path], dict | None], total: int = 1) -> StageResult:
        label = spec.label or spec.kind
        self._started(label, total)
        result = self.store.run(spec, build)
        self._finished(label, stage_summary(result, spec.kind, label))
        return result

    # -- data stages and pre-training (in this process) -------------------------------------------------
    def world_stage(self) -> StageResult:
        cfg = self.cfg
        spec = StageSpec(
            "world",
            {"world": cfg.world.model_dump(), "value": cfg.eval.value, "contrast": cfg.eval.contrast},
            label="world",
        )
        return self._run_here(
            spec, lambda out: wb.build_world_stage(cfg.world, cfg.eval.value, cfg.eval.contrast, out)
        )

    def pretrain_stage(self, world: StageResult) -> StageResult:
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

        spec = StageSpec("pretrain", cfg.model_dump(), {"world": world.path}, seed=cfg.seed, label="pretrain")
        return self._run_here(spec, build, total=cfg.max_steps + cfg.anneal_steps)

    def msm_data_stage(self, world: StageResult, label: str) -> StageResult:
        path, n = self.exp.spec_paths[label], self.cfg.data.msm_docs
        spec = StageSpec(
            "msm_data",
            {"world": self.cfg.world.model_dump(), "docs": n},
            {"world": world.path, "spec": path},
            seed=0,
            label=f"msm_data[{label}]",
        )
        return self._run_here(spec, lambda out: wb.build_msm_stage(self.cfg.world, path, n, 0, out))

    def aft_data_stage(self, world: StageResult) -> StageResult:
        path, n = self.exp.spec_paths[self.cfg.aft_spec], self.cfg.data.aft_fact_chats
        spec = StageSpec(
            "aft_data",
            {"world": self.cfg.world.model_dump(), "fact_chats": n},
            {"world": world.path, "spec": path},
            seed=0,
            label="aft_data",
        )
        return self._run_here(spec, lambda out: wb.build_aft_stage(self.cfg.world, path, n, 0, out))

    def eval_items_stage(self, world: StageResult) -> StageResult:
        path, ev = self.exp.spec_paths[self.cfg.aft_spec], self.cfg.eval
        spec = StageSpec(
            "eval_items",
            {"world": self.cfg.world.model_dump(), **ev.model_dump()},
            {"world": world.path, "spec": path},
            label="eval_items",
        )
        return self._run_here(
            spec, lambda out: wb.build_eval_stage(self.cfg.world, path, ev.value, ev.contrast, out)
        )

    # -- the grid: train chains and evaluations ---------------------------------------------------------
    def grid_jobs(
        self,
        world: StageResult,
        base: StageResult,
        msm_data: Mapping[str, StageResult],
        aft_data: StageResult,
        items: StageResult,
    ) -> tuple[list[Job], dict[tuple[str, int], str]]:
        """One job per distinct (chain prefix, seed) and one eval job per (condition, seed)."""
        jobs: dict[str, Job] = {}
        evals: dict[tuple[str, int], str] = {}
        run_dir = str(self.run_dir)
        for cond in self.cfg.conditions:
            for seed in self.cfg.seeds if cond.steps else []:
                parent: str | None = None
                for i, step in enumerate(cond.steps):
                    kind, _, arg = step.partition(":")
                    chain = cond.steps[: i + 1]
                    job_id = f"{'→'.join(chain)} seed={seed}"
                    if job_id not in jobs:
                        data = msm_data[arg] if kind == "msm" else aft_data
                        kwargs = {
                            "run_dir": run_dir,
                            "kind": kind,
                            "cfg": self.cfg.stages[kind].model_dump(),
                            "seed": seed,
                            "label": job_id,
                            "data_stage": str(data.path),
                            "world_stage": str(world.path),
                            "base_stage": str(base.path),
                            "replay_docs": self.cfg.data.replay_docs,
                        }
                        jobs[job_id] = Job(
                            job_id,
                            job_id,
                            train_job,
                            functools.partial(_with_model, kwargs, parent, str(base.path)),
                            deps=[parent] if parent else [],
                            total_steps=self.cfg.stages[kind].steps,
                        )
                    parent = job_id
                assert parent is not None
                eval_id = f"eval[{cond.name}] seed={seed}"
                kwargs = {"run_dir": run_dir, "items_stage": str(items.path), "label": eval_id}
                jobs[eval_id] = Job(
                    eval_id,
                    eval_id,
                    eval_job,
                    functools.partial(_with_model, kwargs, parent, str(base.path)),
                    deps=[parent],
                )
                evals[(cond.name, seed)] = eval_id
        return list(jobs.values()), evals

    def run(self) -> dict:
        t_start = time.perf_counter()
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        ) as progress:
            self.progress = progress
            world = self.world_stage()
            base = self.pretrain_stage(world)
            msm_data = {label: self.msm_data_stage(world, label) for label in cfg.specs}
            aft_data = self.aft_data_stage(world)
            items = self.eval_items_stage(world)
            base_eval = eval_job(str(self.run_dir), str(base.path), str(items.path), "eval[base]")
            self._finished("eval[base]", base_eval)
            jobs, evals = self.grid_jobs(world, base, msm_data, aft_data, items)
            self._overall = progress.add_task("experiment grid", total=len(jobs))
            events = Events(
                on_start=lambda j: self._started(j.label, j.total_steps),
                on_step=lambda j, s, loss: self._stepped(j.label, s, loss),
                on_done=lambda j, r: self._finished(j.label, r),
            )
            done = run_jobs(jobs, cfg.workers, events)
            self.progress = None
        per_seed: dict[str, dict[int, list[float]]] = {}
        per_seed_soft: dict[str, dict[int, list[float]]] = {}
        controls: dict[str, dict[str, list[float]]] = {}
        for cond in cfg.conditions:
            for seed in cfg.seeds if cond.steps else [0]:
                path = Path(done[evals[(cond.name, seed)]]["path"]) if cond.steps else Path(base_eval["path"])
                scored = read_jsonl(path / "scores.jsonl")
                _, hard, soft = pair_scores(scored, cfg.eval.metric_set)
                per_seed.setdefault(cond.name, {})[seed] = hard
                per_seed_soft.setdefault(cond.name, {})[seed] = soft
                rates = set_rates(scored)
                for c in cfg.eval.controls:
                    if c in rates:
                        controls.setdefault(cond.name, {}).setdefault(c, []).append(rates[c]["rate"])
        results = self.results(base, per_seed, per_seed_soft, controls, time.perf_counter() - t_start)
        write_report(self.run_dir, results)
        return results

    def results(
        self, base: StageResult, per_seed: dict, per_seed_soft: dict, controls: dict, duration: float
    ) -> dict[str, Any]:
        cfg = self.cfg
        conditions = {}
        for cond in cfg.conditions:
            summary = summarize_condition(per_seed[cond.name], per_seed_soft[cond.name])
            conditions[cond.name] = {
                "label": cond.label,
                "description": cond.description,
                "steps": cond.steps,
                **summary,
                "controls": {k: sum(v) / len(v) for k, v in controls.get(cond.name, {}).items()},
            }
        claims = evaluate_claims(cfg.claims, conditions, per_seed)
        outputs = base.manifest.get("outputs", {})
        gates = {
            k: {"value": v["value"], "threshold": v["threshold"], "passed": v["passed"]}
            for k, v in outputs.get("gates", {}).items()
        }
        return {
            "title": cfg.title,
            "description": cfg.description,
            "metric": cfg.metric,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "run_dir": str(self.run_dir),
            "duration_s": round(duration, 1),
            "conditions": conditions,
            "condition_order": [c.name for c in cfg.conditions],
            "claims": claims,
            "gates": gates,
            "pretrain": {k: v for k, v in outputs.items() if k != "gates"},
            "stages": self.stage_log,
            "provenance": {
                **provenance(),
                "config_file": str(self.exp.path),
                "spec_files": {k: str(v) for k, v in self.exp.spec_paths.items()},
            },
            "config": cfg.model_dump(mode="json"),
        }


def _with_model(kwargs: dict, parent: str | None, base_path: str, results: Mapping[str, dict]) -> dict:
    """Fill in the input model: the parent job's output, or the pre-trained base for a chain's first stage."""
    return {**kwargs, "model_stage": results[parent]["path"] if parent else base_path}
