"""Runs an experiment: conditions x seeds expanded into stages, each reused when its inputs are unchanged.

Stage graph (world source):
  world ─┬─ pretrain ──────────────┐
         ├─ msm_data[spec] ──┐     │
         ├─ aft_data ────────┼─► train stages (chains per condition and seed) ─► eval ─► results/report
         └─ eval_items ──────┘
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import transformers
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from valuesfirst.artifacts import StageResult, StageSpec, StageStore
from valuesfirst.evals.claims import evaluate_claims
from valuesfirst.evals.forced_choice import pair_scores, score_items, set_rates
from valuesfirst.evals.stats import summarize_condition
from valuesfirst.experiment_config import LoadedExperiment
from valuesfirst.jsonl import read_jsonl, write_json, write_jsonl
from valuesfirst.provenance import provenance
from valuesfirst.report import write_report
from valuesfirst.train.mixture import encode_rows
from valuesfirst.train.model import load_model
from valuesfirst.train.pretrain import pretrain
from valuesfirst.train.stage_train import run_train_stage
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

    # -- stage plumbing ----------------------------------------------------------------------------------
    def _run(
        self, spec: StageSpec, build: Callable[[Path], dict | None], total_steps: int | None = None
    ) -> StageResult:
        label = spec.label or spec.kind
        task = None
        if self.progress is not None:
            task = self.progress.add_task(label, total=total_steps or 1)
        t0 = time.perf_counter()

        def advance(step: int, loss: float) -> None:
            if self.progress is not None and task is not None:
                self.progress.update(task, completed=step + 1, description=f"{label} loss {loss:.3f}")

        self._advance = advance
        result = self.store.run(spec, build)
        if self.progress is not None and task is not None:
            self.progress.update(task, completed=total_steps or 1, visible=False)
            self.progress.advance(self._overall)
        status = "reused" if result.reused else f"ran in {time.perf_counter() - t0:.1f}s"
        self.console.log(f"{label}: {status} -> {result.path.name}")
        self.stage_log.append(
            {
                "kind": spec.kind,
                "label": label,
                "key": result.key,
                "reused": result.reused,
                "duration_s": result.manifest.get("duration_s"),
            }
        )
        return result

    def _on_step(self, step: int, loss: float) -> None:
        self._advance(step, loss)

    # -- data stages -------------------------------------------------------------------------------------
    def world_stage(self) -> StageResult:
        cfg = self.cfg
        spec = StageSpec(
            "world",
            {"world": cfg.world.model_dump(), "value": cfg.eval.value, "contrast": cfg.eval.contrast},
            label="world",
        )
        return self._run(
            spec, lambda out: wb.build_world_stage(cfg.world, cfg.eval.value, cfg.eval.contrast, out)
        )

    def pretrain_stage(self, world: StageResult) -> StageResult:
        cfg = self.cfg.pretrain

        def build(out: Path) -> dict:
            texts = [r["text"] for r in read_jsonl(world.path / "pretrain.jsonl")]
            gates = read_jsonl(world.path / "gates.jsonl")
            info = pretrain(
                texts,
                gates,
                cfg,
                out / "model",
                on_step=self._on_step,
                on_probe=lambda s, g: self.console.log(
                    f"pretrain step {s}: "
                    + ", ".join(f"{k} {v['value']:.3f}{'✓' if v['passed'] else '✗'}" for k, v in g.items())
                ),
            )
            write_json(out / "probes.json", info.pop("probes"))
            return info

        spec = StageSpec("pretrain", cfg.model_dump(), {"world": world.path}, seed=cfg.seed, label="pretrain")
        return self._run(spec, build, total_steps=cfg.max_steps + cfg.anneal_steps)

    def msm_data_stage(self, world: StageResult, label: str) -> StageResult:
        path = self.exp.spec_paths[label]
        n = self.cfg.data.msm_docs
        spec = StageSpec(
            "msm_data",
            {"world": self.cfg.world.model_dump(), "docs": n},
            {"world": world.path, "spec": path},
            seed=0,
            label=f"msm_data[{label}]",
        )
        return self._run(spec, lambda out: wb.build_msm_stage(self.cfg.world, path, n, 0, out))

    def aft_data_stage(self, world: StageResult) -> StageResult:
        path = self.exp.spec_paths[self.cfg.aft_spec]
        n = self.cfg.data.aft_fact_chats
        spec = StageSpec(
            "aft_data",
            {"world": self.cfg.world.model_dump(), "fact_chats": n},
            {"world": world.path, "spec": path},
            seed=0,
            label="aft_data",
        )
        return self._run(spec, lambda out: wb.build_aft_stage(self.cfg.world, path, n, 0, out))

    def eval_items_stage(self, world: StageResult) -> StageResult:
        path = self.exp.spec_paths[self.cfg.aft_spec]
        ev = self.cfg.eval
        spec = StageSpec(
            "eval_items",
            {"world": self.cfg.world.model_dump(), **ev.model_dump()},
            {"world": world.path, "spec": path},
            label="eval_items",
        )
        return self._run(
            spec, lambda out: wb.build_eval_stage(self.cfg.world, path, ev.value, ev.contrast, out)
        )

    # -- training and evaluation -------------------------------------------------------------------------
    @functools.cache  # noqa: B019 - one runner per run; the cache holds encoded replay/stage data
    def _examples(self, data_path: Path, tokenizer_dir: Path) -> dict[str, list]:
        _, tok = load_model(tokenizer_dir)
        if data_path.name == "pretrain.jsonl":
            rows = wb.sample_replay(data_path.parent, self.cfg.data.replay_docs, seed=0)
            return {"replay": encode_rows(tok, rows, str(data_path))}
        rows = read_jsonl(data_path)
        by_kind: dict[str, list] = {}
        for r in rows:
            by_kind.setdefault(str(r.get("kind", "data")), []).append(r)
        return {k: encode_rows(tok, v, str(data_path)) for k, v in by_kind.items()}

    def train_stage(
        self,
        kind: str,
        model: StageResult,
        data: StageResult,
        world: StageResult,
        base: StageResult,
        seed: int,
        label: str,
    ) -> StageResult:
        cfg = self.cfg.stages[kind]
        data_file = data.path / ("msm.jsonl" if kind == "msm" else "aft.jsonl")

        def build(out: Path) -> dict:
            tok_dir = base.path / "model"
            sources = {
                **self._examples(data_file, tok_dir),
                **self._examples(world.path / "pretrain.jsonl", tok_dir),
            }
            return run_train_stage(
                model.path / "model", sources, cfg, seed, out / "model", on_step=self._on_step
            )

        spec = StageSpec(
            kind,
            {**cfg.model_dump(), "replay_docs": self.cfg.data.replay_docs},
            {"model": model.path, "data": data.path, "world": world.path},
            seed=seed,
            label=label,
        )
        return self._run(spec, build, total_steps=cfg.steps)

    def eval_stage(self, model: StageResult, items: StageResult, label: str) -> StageResult:
        def build(out: Path) -> dict:
            m, tok = load_model(model.path / "model")
            scored = score_items(m, tok, read_jsonl(items.path / "eval.jsonl"))
            write_jsonl(out / "scores.jsonl", scored)
            rates = set_rates(scored)
            write_json(out / "rates.json", rates)
            return {"rates": rates}

        spec = StageSpec(
            "eval",
            {"scorer": "logprob_forced_choice"},
            {"model": model.path, "items": items.path},
            label=label,
        )
        return self._run(spec, build)

    # -- the whole run -----------------------------------------------------------------------------------
    def count_stages(self) -> int:
        """Stages this run touches (run or reused): data, pre-training, train chains, evaluations."""
        cfg = self.cfg
        chains = {
            (tuple(c.steps[: i + 1]), s)
            for c in cfg.conditions
            for s in cfg.seeds
            for i in range(len(c.steps))
        }
        evals = {(tuple(c.steps), s) for c in cfg.conditions if c.steps for s in cfg.seeds}
        return 4 + len(cfg.specs) + len(chains) + len(evals) + 1

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
            transient=False,
        ) as progress:
            self.progress = progress
            self._overall = progress.add_task("experiment stages", total=self.count_stages())
            world = self.world_stage()
            base = self.pretrain_stage(world)
            msm_data = {label: self.msm_data_stage(world, label) for label in cfg.specs}
            aft_data = self.aft_data_stage(world)
            items = self.eval_items_stage(world)
            per_seed: dict[str, dict[int, list[float]]] = {}
            per_seed_soft: dict[str, dict[int, list[float]]] = {}
            controls: dict[str, dict[str, list[float]]] = {}
            base_eval = self.eval_stage(base, items, "eval[base]")
            for cond in cfg.conditions:
                seeds = cfg.seeds if cond.steps else [0]
                for seed in seeds:
                    model = base
                    chain: list[str] = []
                    for step in cond.steps:
                        kind, _, arg = step.partition(":")
                        chain.append(step)
                        data = msm_data[arg] if kind == "msm" else aft_data
                        model = self.train_stage(
                            kind, model, data, world, base, seed, f"{'→'.join(chain)} seed={seed}"
                        )
                    ev = (
                        base_eval
                        if not cond.steps
                        else self.eval_stage(model, items, f"eval[{cond.name}] seed={seed}")
                    )
                    scored = read_jsonl(ev.path / "scores.jsonl")
                    _, hard, soft = pair_scores(scored, cfg.eval.metric_set)
                    per_seed.setdefault(cond.name, {})[seed] = hard
                    per_seed_soft.setdefault(cond.name, {})[seed] = soft
                    rates = set_rates(scored)
                    for c in cfg.eval.controls:
                        if c in rates:
                            controls.setdefault(cond.name, {}).setdefault(c, []).append(rates[c]["rate"])
            self.progress = None
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
        summaries = {k: v for k, v in conditions.items()}
        claims = evaluate_claims(cfg.claims, summaries, per_seed)
        gates = {
            k: {"value": v["value"], "threshold": v["threshold"], "passed": v["passed"]}
            for k, v in base.manifest.get("outputs", {}).get("gates", {}).items()
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
            "pretrain": {k: v for k, v in base.manifest.get("outputs", {}).items() if k != "gates"},
            "stages": self.stage_log,
            "provenance": {
                **provenance(),
                "config_file": str(self.exp.path),
                "spec_files": {k: str(v) for k, v in self.exp.spec_paths.items()},
            },
            "config": cfg.model_dump(mode="json"),
        }
