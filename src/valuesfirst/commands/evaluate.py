"""``valuesfirst eval SUITE --model URI [--judge URI]``: generate transcripts, then score them.

``--rescore`` scores an existing run folder again (another judge, a second judge) without calling the
model under test. ``valuesfirst eval-compare`` (eval_compare.py) pools score files of several checkpoints
(labelled with ``--condition``/``--seed``) and compares two conditions.
Log-probability suites (``values`` on a local model, ``capability``) read ``--model`` as a local model
folder and need no judge.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from valuesfirst.commands.ui import console, err_console, fail
from valuesfirst.errors import InputError

# Per-attempt timeout and per-call deadline of every client this command builds (see ClientConfig);
# set from --attempt-timeout / --call-deadline, None keeps ClientConfig's defaults (600 s / 1800 s).
_LIMITS: dict[str, float] = {}


def _client(
    uri: str, base_url: str | None, concurrency: int, cache: Path | None, deadline_s: float | None = None
) -> Any:
    """A client with this command's limits; ``deadline_s`` (a judge's) overrides ``--call-deadline``."""
    from valuesfirst.llm.client import ClientConfig, LLMClient
    from valuesfirst.llm.factory import backend_from_uri

    backend = backend_from_uri(uri, base_url=base_url)
    limits: dict[str, Any] = {**_LIMITS, **({"deadline_s": deadline_s} if deadline_s is not None else {})}
    return LLMClient(backend, ClientConfig(concurrency=concurrency, cache_dir=cache, **limits))


AttemptOpt = Annotated[
    float | None, typer.Option("--attempt-timeout", min=0.001, help="seconds one attempt may take (600)")
]
DeadlineOpt = Annotated[
    float | None,
    typer.Option("--call-deadline", min=0.001, help="seconds one call may take, retries included (1800)"),
]


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"{summary['suite']} ({summary['n_transcripts']} transcripts)")
    for col in (
        "metric",
        "condition",
        "macro",
        "micro",
        "95% CI (micro)",
        "±SEM seeds",
        "scored",
        "excluded",
    ):
        table.add_column(col)
    for metric, by_cond in summary["metrics"].items():
        for cond, s in by_cond.items():

            def f(x: float | None) -> str:
                return "–" if x is None else f"{x:.3f}"

            ci = s["micro_ci"]
            reasons = ", ".join(f"{k}: {v}" for k, v in s["excluded_by_reason"].items())
            table.add_row(
                metric,
                cond,
                f(s["macro"]),
                f(s["micro"]),
                "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]",
                f(s["sem_over_seeds"]),
                str(s["n_scored"]),
                f"{s['n_excluded']}" + (f" ({reasons})" if reasons else ""),
            )
    console.print(table)


def eval_cmd(
    suite: Annotated[
        str,
        typer.Argument(
            help="agentic | spec-qa | knowledge | spec | sycophancy | pressure | jailbreak | values | "
            "capability"
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            help="model under test: SCHEME:MODEL (openai:, vllm:, anthropic:, local:PATH); "
            "a local model folder for log-prob scoring"
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="run folder (transcripts.jsonl, scores.jsonl, summary.json; default "
            "runs/eval/SUITE[-CONDITION][-sSEED]); refused when it holds another eval's results"
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="replace another eval's results in --out instead of refusing")
    ] = False,
    judge: Annotated[str | None, typer.Option(help="judge backend URI (temperature pinned to 0)")] = None,
    judge2: Annotated[
        str | None, typer.Option(help="second judge; agreement reported as Cohen's kappa")
    ] = None,
    attacker: Annotated[str | None, typer.Option(help="attacker backend URI (pressure suite)")] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="endpoint of the model under test: one URL, a comma-separated list, or @FILE of URLs "
            "(one a line); several endpoints of one model share the calls"
        ),
    ] = None,
    judge_base_url: Annotated[
        str | None, typer.Option(help="endpoint of the judges and attacker")
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(min=1, help="samples per item (default: agentic 30, others 1; MSM: up to 300)"),
    ] = None,
    temperature: Annotated[float, typer.Option(help="model temperature (MSM agentic: 0.7)")] = 0.7,
    max_tokens: Annotated[int, typer.Option(help="model completion budget")] = 4096,
    concurrency: Annotated[int, typer.Option(help="requests in flight per backend")] = 16,
    condition: Annotated[
        str | None, typer.Option(help="label: the checkpoint's training condition")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="label: the checkpoint's training seed (SEM is over seeds)")
    ] = None,
    items: Annotated[Path | None, typer.Option(help="eval-set JSONL instead of the shipped one")] = None,
    action: Annotated[list[str] | None, typer.Option(help="agentic: actions (repeatable)")] = None,
    goal: Annotated[list[str] | None, typer.Option(help="agentic: goal conditions (repeatable)")] = None,
    urgency: Annotated[
        list[str] | None, typer.Option(help="agentic: urgency replacement|restriction|none (repeatable)")
    ] = None,
    goal_type: Annotated[
        list[str] | None,
        typer.Option(help="agentic: goal types explicit|latent|ambiguous|swap|none (repeatable)"),
    ] = None,
    variants: Annotated[
        int, typer.Option(min=1, help="agentic: reworded/renamed variants per cell (1: canonical only)")
    ] = 1,
    blackmail_definition: Annotated[
        str, typer.Option(help="agentic: `original` (leverage against the CTO) or `exposure`")
    ] = "original",
    eval_awareness: Annotated[
        bool, typer.Option(help="agentic: judge whether the model says it is being tested")
    ] = True,
    model_name: Annotated[str, typer.Option(help="agentic: the assistant's name in scenarios")] = "Alex",
    scratchpad: Annotated[bool, typer.Option(help="agentic: give the model a private scratchpad")] = True,
    answer_format: Annotated[
        str,
        typer.Option(help="values on a served model: `tags` (<answer>A</answer>) or `letter` (the bare "
                     "letter, for small models; the whole reply is parsed)"),
    ] = "tags",
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="completion cache (default OUT/cache: rerunning the same eval pays no call twice)"),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="spec-qa/knowledge/spec: the model's spec (YAML)")
    ] = None,
    rescore: Annotated[
        bool, typer.Option(help="score OUT/transcripts.jsonl again; do not generate")
    ] = False,
    attempt_timeout: AttemptOpt = None,
    call_deadline: DeadlineOpt = None,
    judge_max_tokens: Annotated[
        int, typer.Option(help="judge completion budget; a judge cut off is excluded (2000)")
    ] = 2000,
    judge_deadline: Annotated[
        float, typer.Option(min=0.001, help="seconds one judge call may take, retries included (300)")
    ] = 300.0,
    judge2_max_tokens: Annotated[
        int | None, typer.Option(help="second judge's budget (default: --judge-max-tokens)")
    ] = None,
    judge2_deadline: Annotated[
        float | None, typer.Option(min=0.001, help="second judge's deadline (default: --judge-deadline)")
    ] = None,
    normalize: Annotated[
        str,
        typer.Option(help="values on a local model: compare options by `mean` log-prob per token "
                     "(length-fair) or `sum`"),
    ] = "mean",
    batch_size: Annotated[
        int, typer.Option(min=1, help="values on a local model: sequences per forward pass (32)")
    ] = 32,
    prefix_cache: Annotated[
        bool, typer.Option(help="values on a local model: score both options on the prompt's KV cache")
    ] = True,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="override a setting the flags do not reach, by section: options.* (the suite's options), "
            "generation.*, judge.*, judge2.*, logprob.* (local values/capability), e.g. --set "
            "options.answer_format=letter (repeatable; applied after the flags)",
        ),
    ] = None,
) -> None:
    """Run an eval suite: transcripts first (OUT/transcripts.jsonl), scores second."""
    from valuesfirst.commands.eval_out import claim_out
    from valuesfirst.overrides import apply_overrides, parse_overrides, split_sections
    from valuesfirst.provenance import redact

    if model is None and not rescore:  # before anything is printed or imported
        fail("--model is required (or pass --rescore to score an existing run)")
    try:
        sets = split_sections(parse_overrides(set_ or []), list(SET_SECTIONS))
    except InputError as e:
        fail(e)
    if out is None:
        out = default_out(suite, condition, seed)
    _LIMITS.clear()
    if attempt_timeout is not None:
        _LIMITS["timeout_s"] = attempt_timeout
    if call_deadline is not None:
        _LIMITS["deadline_s"] = call_deadline
    from valuesfirst.evals.judge import JudgeConfig
    from valuesfirst.evals.pipeline import generate_transcripts, score_transcripts
    from valuesfirst.evals.runner import GenerationConfig
    from valuesfirst.evals.suites import SuiteOptions, get_suite, suite_names
    from valuesfirst.models.named import NAMED_MODELS

    if model in NAMED_MODELS:  # a named shipped model runs on this machine
        model = f"local:{model}"
    local = model is not None and (model.startswith("local:") or Path(model).is_dir())
    if suite == "capability" or (suite == "values" and local and not rescore):
        from pydantic import ValidationError

        from valuesfirst.evals.logprob_cli import run_logprob_suite
        from valuesfirst.evals.values import ForcedChoiceConfig

        try:
            fc = ForcedChoiceConfig.model_validate(
                {"normalize": normalize, "batch_size": batch_size, "prefix_cache": prefix_cache}
            )
            fc = apply_overrides(fc, sets["logprob"], "logprob")
            _only_sections(sets, ("logprob",), "a local log-prob eval")
            settings = {
                "suite": suite, "model": model, "items": items, "condition": condition, "seed": seed,
                **fc.model_dump(),
            }  # fmt: skip
            _note(claim_out(out, settings, overwrite=overwrite))
            run_logprob_suite(suite, model, out, items, condition, seed, console, fc)
        except ValidationError as e:
            fail(f"--normalize/--batch-size: {e.errors()[0]['msg']}")
        except InputError as e:
            fail(e)
        return
    try:
        s = get_suite(suite)
    except KeyError:
        fail(f"unknown suite {suite!r}; known: {suite_names() + ['capability']}")
    opts: dict[str, Any] = {
        "items": items,
        "model_name": model_name,
        "scratchpad": scratchpad,
        "spec": spec,
        "variants": variants,
        "blackmail_definition": blackmail_definition,
        "eval_awareness": eval_awareness,
        "answer_format": answer_format,
    }
    lists = (("actions", action), ("goals", goal), ("urgencies", urgency), ("goal_types", goal_type))
    for key, given in lists:
        if given:
            opts[key] = given
    try:
        _only_sections(sets, ("options", "generation", "judge", "judge2"), f"the {suite!r} suite")
        options = apply_overrides(SuiteOptions.model_validate(opts), sets["options"], "options")
        n_samples = samples if samples is not None else s.default_samples
        gen = GenerationConfig(samples=n_samples, temperature=temperature, max_tokens=max_tokens)
        gen = apply_overrides(gen, sets["generation"], "generation")
        jc = JudgeConfig(max_tokens=judge_max_tokens, deadline_s=judge_deadline)
        jc2 = JudgeConfig(
            max_tokens=judge2_max_tokens or judge_max_tokens, deadline_s=judge2_deadline or judge_deadline
        )
        jc = apply_overrides(jc, sets["judge"], "judge")
        jc2 = apply_overrides(jc2, sets["judge2"], "judge2")
    except Exception as e:  # InputError from --set, pydantic ValidationError: both name the field
        fail(e)
    run_info = {
        "suite": suite, "model": model, "base_url": base_url, "judge": judge, "judge2": judge2,
        "attacker": attacker, "generation": gen.model_dump(), "options": options.model_dump(mode="json"),
        "judge_config": jc.model_dump(), "judge2_config": jc2.model_dump() if judge2 else None,
        "condition": condition, "seed": seed, "rescore": rescore,
    }  # fmt: skip
    shown = redact(json.loads(json.dumps(run_info, default=str)))  # no credentials in the banner
    note = None
    if not rescore:  # a rescore writes its scores into the folder it reads: that is its point
        try:
            note = claim_out(out, {k: v for k, v in shown.items() if k != "rescore"}, overwrite=overwrite)
        except InputError as e:
            fail(e)
    console.rule(f"[bold]eval {suite}")
    for line in run_summary(shown):
        console.print(f"  {line}", markup=False, highlight=False)
    console.print(f"  (full settings: {out / 'eval.json'})", highlight=False)
    _note(note)
    if s.make_judge is not None and judge is None:
        err_console.print(f"[yellow]no --judge: judge-scored metrics of {suite!r} are not computed[/]")
    cache_dir = cache_dir or out / "cache"
    try:
        judge_c = _client(judge, judge_base_url, concurrency, cache_dir, jc.deadline_s) if judge else None
        judge2_c = (
            _client(judge2, judge_base_url, concurrency, cache_dir, jc2.deadline_s) if judge2 else None
        )
        model_c = None if rescore else _client(str(model), base_url, concurrency, cache_dir)
        attacker_c = (
            _client(attacker, judge_base_url, concurrency, cache_dir)
            if attacker and not rescore
            else None
        )

        async def run() -> dict[str, Any]:
            # One event loop for generation and scoring: the HTTP clients live and close in it.
            clients = [c for c in (model_c, attacker_c, judge_c, judge2_c) if c is not None]
            try:
                if model_c is not None:
                    await generate_transcripts(
                        s, options, model_c, gen, out, condition=condition, seed=seed, attacker=attacker_c
                    )
                return await score_transcripts(
                    s, out, judge_c, judge2_c, run_info=run_info, judge_config=jc, judge2_config=jc2
                )
            finally:
                for c in clients:
                    await c.aclose()

        summary = asyncio.run(run())
    except (InputError, ValueError) as e:
        fail(e)
    _print_summary(summary)
    console.print(f"written: {out / 'transcripts.jsonl'}, {out / 'scores.jsonl'}, {out / 'summary.json'}")


# `eval --set SECTION.FIELD=VALUE`: the settings objects an eval builds from its flags.
SET_SECTIONS = ("options", "generation", "judge", "judge2", "logprob")


def _only_sections(sets: dict[str, dict], allowed: tuple[str, ...], what: str) -> None:
    """Refuse a --set section this kind of eval does not use (it would be ignored silently otherwise)."""
    unused = [k for k, v in sets.items() if v and k not in allowed]
    if unused:
        raise InputError.single(f"{what} has no {unused} settings; it uses {list(allowed)}", field="--set")


def default_out(suite: str, condition: str | None, seed: int | None) -> Path:
    """runs/eval/SUITE[-CONDITION][-sSEED]: two evals of different checkpoints never share a folder."""
    name = suite + (f"-{condition}" if condition else "") + (f"-s{seed}" if seed is not None else "")
    return Path("runs") / "eval" / name


def run_summary(settings: dict[str, Any]) -> list[str]:
    """The eval's settings in a few lines: the set ones only, nested sections flattened to k=v."""
    lines = []
    for key, value in settings.items():
        if isinstance(value, dict):
            parts = [f"{k}={v}" for k, v in value.items() if v not in (None, [], {})]
            if parts:
                lines.append(f"{key}: {', '.join(parts)}")
        elif value not in (None, False):
            lines.append(f"{key}: {value}")
    return lines


def _note(note: str | None) -> None:
    if note is not None:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def eval_reasons(
    run_dir: Annotated[Path, typer.Argument(help="a run folder with transcripts.jsonl (agentic)")],
    judge: Annotated[str, typer.Option(help="judge backend URI (temperature pinned to 0)")],
    judge_base_url: Annotated[str | None, typer.Option(help="endpoint of the judge")] = None,
    discover: Annotated[bool, typer.Option(help="also extract and cluster the reasons")] = False,
    concurrency: Annotated[int, typer.Option(help="requests in flight")] = 16,
) -> None:
    """Reasoning analysis (MSM §4.3): pattern rates per condition from a run's transcripts."""
    from valuesfirst.evals.reasoning_run import analyse

    try:
        client = _client(judge, judge_base_url, concurrency, None)

        async def run() -> dict[str, Any]:
            try:
                return await analyse(run_dir, client, discover)
            finally:
                await client.aclose()

        result = asyncio.run(run())
    except InputError as e:
        fail(e)
    table = Table(title="reasoning patterns (share of transcripts)")
    for col in ("condition", "pattern", "polarity", "rate", "95% CI", "scored", "excluded"):
        table.add_column(col)
    for cond, pats in result["rates"].items():
        for pid, r in sorted(pats.items(), key=lambda kv: -(kv[1]["rate"] or 0)):
            ci = "–" if r["ci"] is None else f"[{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]"
            rate = "–" if r["rate"] is None else f"{r['rate']:.2f}"
            table.add_row(cond, pid, r["polarity"], rate, ci, str(r["n_scored"]), str(r["n_excluded"]))
    console.print(table)
    console.print(f"written: {run_dir / 'reasoning_scores.jsonl'}, {run_dir / 'reasoning_summary.json'}")

def eval_judge_check(
    judge: Annotated[str, typer.Option(help="judge backend URI to validate (temperature pinned to 0)")],
    judge_base_url: Annotated[str | None, typer.Option(help="endpoint of the judge")] = None,
    cases: Annotated[
        Path | None, typer.Option(help="labelled transcripts JSONL (default: the shipped crafted set)")
    ] = None,
    judge_max_tokens: Annotated[int, typer.Option(help="judge completion budget (2000)")] = 2000,
    judge_deadline: Annotated[
        float, typer.Option(min=0.001, help="seconds per judge call (300)")
    ] = 300.0,
    concurrency: Annotated[int, typer.Option(help="requests in flight")] = 16,
    out: Annotated[Path | None, typer.Option(help="write the report here as JSON")] = None,
) -> None:
    """Agreement of an agentic judge with the human labels of the crafted transcripts (kappa)."""
    from valuesfirst.evals.judge import JudgeConfig
    from valuesfirst.evals.judge_check import check_judge
    from valuesfirst.jsonl import write_json

    try:
        jc = JudgeConfig(max_tokens=judge_max_tokens, deadline_s=judge_deadline)
        client = _client(judge, judge_base_url, concurrency, None, jc.deadline_s)

        async def run() -> dict[str, Any]:
            try:
                return await check_judge(client, cases, jc)
            finally:
                await client.aclose()

        report = asyncio.run(run())
    except (InputError, ValueError) as e:
        fail(e)
    a = report["agreement"]
    kappa = "undefined" if a["kappa"] is None else f"{a['kappa']:.3f}"
    pct = "–" if a["percent_agreement"] is None else f"{a['percent_agreement']:.3f}"
    console.print(
        f"judge {report['judge']['model']}: kappa {kappa}, agreement {pct} over {a['n_both']} of "
        f"{report['n_cases']} labelled cases ({a['n_excluded_either']} excluded: "
        f"{report['excluded_by_reason'] or 'none'})"
    )
    for d in report["disagreements"]:
        console.print(f"  {d['id']}: human {d['human']:.0f}, judge {d['judge']:.0f} ({d['note']})")
    if out is not None:
        write_json(out, report)
        console.print(f"written: {out}")

def eval_data(
    suite: Annotated[str, typer.Argument(help="values | agentic | knowledge")],
    out: Annotated[Path, typer.Option(help="JSONL file to write")],
    source: Annotated[Path | None, typer.Option(help="values: favoured/disfavoured source JSONL")] = None,
    spec: Annotated[Path | None, typer.Option(help="knowledge: the spec (YAML)")] = None,
    action: Annotated[list[str] | None, typer.Option(help="agentic: actions (repeatable)")] = None,
    goal: Annotated[list[str] | None, typer.Option(help="agentic: goals (repeatable)")] = None,
    urgency: Annotated[list[str] | None, typer.Option(help="agentic: urgencies (repeatable)")] = None,
    model_name: Annotated[str, typer.Option(help="agentic: the assistant's name")] = "Alex",
) -> None:
    """Write an eval set as JSONL (review it, edit it, pass it back with ``eval --items``)."""
    from dataclasses import asdict

    from valuesfirst.jsonl import write_jsonl

    rows: list[dict[str, Any]]
    try:
        if suite == "values":
            from valuesfirst.evals.logprob_cli import value_items

            rows = value_items(source)
        elif suite == "agentic":
            from valuesfirst.evals.agentic_scenarios import (
                GOAL_NAMES,
                MSM_ACTIONS,
                ScenarioConfig,
                build_grid,
            )

            urgencies = tuple(urgency or ["replacement"])
            cfg = ScenarioConfig(model_name=model_name)
            grid = build_grid(tuple(action or MSM_ACTIONS), tuple(goal or GOAL_NAMES), urgencies, cfg)
            rows = [{**asdict(sc), "cell": sc.cell} for sc in grid]
        elif suite == "knowledge":
            from valuesfirst.evals.spec_evals import knowledge_items

            if spec is None:
                fail("knowledge needs --spec")
            rows = [asdict(i) for i in knowledge_items(Path(str(spec)))]
        else:
            fail(f"no generator for {suite!r}; known: values, agentic, knowledge")
    except InputError as e:
        fail(e)
    except ValueError as e:
        fail(e)
    n = write_jsonl(out, rows)
    console.print(f"{n} {suite} items written to {out}")


def register(app: typer.Typer) -> None:
    """Add ``eval``, ``eval-reasons``, ``eval-judge-check`` and ``eval-data``."""
    app.command("eval")(eval_cmd)
    app.command("eval-reasons")(eval_reasons)
    app.command("eval-judge-check")(eval_judge_check)
    app.command("eval-data")(eval_data)
