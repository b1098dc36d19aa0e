"""``valuesfirst run``, ``demo`` and ``report``: an experiment grid from its config to its report.

The config is loaded and preflighted (every input error, with file, line and field) before the runner,
and with it torch, is imported: a typo costs a fraction of a second, not a model load.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from valuesfirst.commands.ui import console, err_console, fail
from valuesfirst.errors import InputError


def demo_config_path(real: bool = False) -> Path:
    name = "real_cheese_smollm2.yaml" if real else "demo.yaml"
    return Path(str(resources.files("valuesfirst") / "configs" / name))


def _run_experiment(
    config: Path,
    out: Path | None,
    quick: bool,
    require_claims: list[str] | None = None,
    preview: bool = False,
    overrides: list[str] | None = None,
    variants: list[str] | None = None,
    shared_cache: bool = True,
) -> dict | None:
    from valuesfirst.experiment.config import load_experiment
    from valuesfirst.experiment.preflight import preflight
    from valuesfirst.overrides import parse_overrides

    try:
        exp = load_experiment(
            config, quick=quick, overrides=parse_overrides(overrides or []), variants=variants
        )
        known = [c.id for c in exp.config.claims]
        unknown = [c for c in require_claims or [] if c not in known]
        if unknown:  # checked before any work, not after a 15-minute run
            fail(f"unknown claim id(s) {unknown}; the config's claims: {known}")
        notes = preflight(exp)  # every input error now, in seconds, not after pre-training
    except InputError as e:
        fail(e)
    suffix = "".join(f"-{v}" for v in variants or []) + ("-quick" if quick else "")
    run_dir = out or Path("runs") / (exp.config.name + suffix)
    console.rule(f"[bold]{exp.config.title}")
    console.print(f"config: {exp.path}{'  (--quick)' if quick else ''}\nrun dir: {run_dir.resolve()}")
    for line in experiment_summary(exp):
        console.print(f"  {line}", markup=False, highlight=False)
    for note in notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"  (full resolved config: {run_dir / 'config.resolved.json'})", highlight=False)
    if preview:
        _print_preview(exp)
        return None
    # The runner pulls in torch (seconds): imported only once the input is known good.
    from valuesfirst.experiment.data_stages import GenerationIncomplete
    from valuesfirst.experiment.runner import Runner, shared_stage_cache

    runner = Runner(exp, run_dir, console, shared_cache=shared_stage_cache() if shared_cache else None)
    try:
        results = runner.run()
    except KeyboardInterrupt:
        done = [s for s in runner.stage_log if not s.get("reused")]
        err_console.print(
            f"interrupted: {len(runner.stage_log)} stage(s) finished ({len(done)} built in this run), kept "
            f"in {run_dir / 'stages'}; stages in progress were dropped. Run the same command again to "
            "resume: finished stages are reused.",
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except InputError as e:
        fail(e)
    except GenerationIncomplete as e:
        err_console.print(str(e), style="red", markup=False, highlight=False)
        err_console.print(
            "rerun the same command: finished stages are reused and only failed calls asked again"
        )
        raise typer.Exit(e.code) from None
    _print_results(results, run_dir)
    return results


def _print_preview(exp: Any) -> None:
    from valuesfirst.experiment.preview import generation_previews, grid_size
    from valuesfirst.generate.preview import ESTIMATE_NOTE, preview_table

    try:
        previews = generation_previews(exp)
    except InputError as e:
        fail(e)
    for label, summary in previews:
        console.print(f"[bold]{label}[/]")
        console.print(preview_table(summary, "items", ESTIMATE_NOTE))
    priced = [s["cost_usd"] for _, s in previews]
    if not previews:
        console.print("no generation stage: this experiment makes no LLM call")
    elif all(c is not None for c in priced):
        console.print(f"[bold]projected generation cost of the experiment: ${sum(priced):,.2f}[/]")
    else:
        console.print("[yellow]some backends have no known price: cost unknown[/]")
    size = grid_size(exp)
    console.print(
        f"grid: {size['training_stages']} training stages, {size['evaluations']} evaluations (no call made)"
    )


def experiment_summary(exp: Any) -> list[str]:
    """The resolved config in a few lines: model, data, recipes, grid, evals."""
    cfg = exp.config
    d = cfg.data
    lines = [
        f"model: {cfg.model.path}"
        + (" (pre-trained from scratch in the embedded world)" if cfg.is_world_model else ""),
        f"specs: {', '.join(f'{k}={Path(v).name}' for k, v in exp.spec_paths.items())}",
        f"data: msm {d.msm.source}, aft {d.aft.source}, replay {d.replay.source}",
    ]
    lines += [f"stage {k}: {r.summary()}" for k, r in cfg.stages.items()]
    n_chains = len(cfg.conditions)
    lines.append(f"grid: {n_chains} conditions x {len(cfg.seeds)} seeds {cfg.seeds}, {cfg.workers} worker(s)")
    lines.append(
        f"eval: {', '.join(cfg.eval.names())} (headline {cfg.eval.headline}); {len(cfg.claims)} claim(s)"
    )
    return lines


def _print_results(results: dict, run_dir: Path) -> None:
    table = Table(title=results["metric"])
    for col in ("condition", "rate", "±SEM", "95% CI", "seeds", "per seed"):
        table.add_column(col)
    for name in results["condition_order"]:
        c = results["conditions"][name]
        sem = f"{c['sem']:.3f}" if c["sem"] is not None else "–"
        per = " ".join(f"{v:.2f}" for v in c["per_seed"].values())
        table.add_row(
            c["label"],
            f"{c['rate']:.3f}",
            sem,
            f"[{c['ci'][0]:.2f}, {c['ci'][1]:.2f}]",
            str(c["n_seeds"]),
            per,
        )
    console.print(table)
    for claim in results["claims"]:
        mark = {
            True: "[green]HOLDS[/]",
            False: "[red]DOES NOT HOLD[/]",
            None: "[yellow]NOT TESTABLE[/]",
        }
        console.print(f"{mark[claim['holds']]}  {claim['title']}\n    {claim['reason']}")
    console.print(f"report: {run_dir / 'report.html'}  ({results['duration_s']:.0f} s)")


# One option for `run` and `demo`: a second run folder gets the minutes of pre-training for free.
SharedCache = Annotated[
    bool,
    typer.Option(
        help="copy the world and its pre-trained base from the user's stage cache ($VALUESFIRST_STAGE_CACHE, "
        "default ~/.cache/valuesfirst/stages) when another run built them; add them there after a build"
    ),
]


def run(
    config: Annotated[Path, typer.Argument(help="experiment config (YAML)")],
    out: Annotated[Path | None, typer.Option(help="run folder (default runs/<name>)")] = None,
    quick: Annotated[bool, typer.Option(help="apply the config's `quick:` overrides")] = False,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            "--dry-run",
            help="check every input, project the generation cost and the grid; run nothing, call nothing",
        ),
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config field, e.g. --set stages.msm.steps=40 (repeatable)"),
    ] = None,
    variant: Annotated[
        list[str] | None, typer.Option(help="apply a named `variants:` section of the config (repeatable)")
    ] = None,
    shared_cache: SharedCache = True,
) -> None:
    """Run an experiment: every stage not already finished with the same inputs, then the report."""
    _run_experiment(
        config, out, quick, preview=preview, overrides=set_, variants=variant, shared_cache=shared_cache
    )


def demo(
    out: Annotated[
        Path | None,
        typer.Option(help="run folder (default runs/embedded-cheese or runs/real-cheese-smollm2)"),
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="a small version for tests (does not reproduce the claims)")
    ] = False,
    real: Annotated[
        bool,
        typer.Option(
            help="the cheese experiment on a real pretrained model (SmolLM2-135M-Instruct) instead of "
            "the embedded world (configs/real_cheese_smollm2.yaml)"
        ),
    ] = False,
    variant: Annotated[
        list[str] | None, typer.Option(help="a `variants:` section of the config, e.g. full (repeatable)")
    ] = None,
    require_claim: Annotated[
        list[str] | None,
        typer.Option(
            help="exit 1 unless this claim id holds (repeatable), e.g. identical_aft_different_values"
        ),
    ] = None,
    shared_cache: SharedCache = True,
) -> None:
    """The cheese experiment offline: the embedded world (11-28 min on 2 cores) or, with --real, SmolLM2."""
    results = _run_experiment(
        demo_config_path(real), out, quick, require_claim, variants=variant, shared_cache=shared_cache
    )
    assert results is not None
    for cid in require_claim or []:
        match = [c for c in results["claims"] if c["id"] == cid]
        if match[0]["holds"] is not True:
            err_console.print(f"[red]required claim {cid!r} does not hold[/]: {match[0]['reason']}")
            raise typer.Exit(1)


def report(run_dir: Annotated[Path, typer.Argument(help="a finished run folder")]) -> None:
    """Re-render report.md, report.html and chart.png from a run's results.json."""
    from valuesfirst.report import load_results, write_report

    try:
        results = load_results(run_dir)
    except InputError as e:
        fail(e)
    paths = write_report(run_dir, results)
    for p in paths.values():
        console.print(str(p))


def register(app: typer.Typer) -> None:
    """Add ``run``, ``demo`` and ``report`` to the top-level app."""
    app.command("run")(run)
    app.command("demo")(demo)
    app.command("report")(report)
