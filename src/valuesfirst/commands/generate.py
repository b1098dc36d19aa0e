"""``valuesfirst generate midtrain`` and ``valuesfirst generate aft``: LLM-generated training data.

Exit codes: 0 done; 1 a level passed its failure threshold (every failure reason with its count and an
example printed, manifest status ``stopped``); 2 bad input (spec, config, flags, missing API key, a base
URL without a scheme, an output folder another run is writing to, ``--engine ray`` without Ray installed
or with a backend it cannot serve), reported before any call is made;
3 finished short: outputs written, but a level (or the AFT dataset) ended below its target count (what
was lost printed, manifest status ``short``). Rerunning the same command after a crash, kill, stop or
short run resumes: usable answers come from the cache and only failed or unusable calls are asked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from valuesfirst.commands.ui import console

generate_app = typer.Typer(no_args_is_help=True, help="Generate MSM documents and AFT demonstrations.")

SpecOpt = Annotated[Path, typer.Option("--spec", help="spec file (YAML)")]
BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help="generator: openai:MODEL, vllm:MODEL, ollama:MODEL, anthropic:MODEL, local:PATH, or fake: "
        "(offline deterministic placeholder text, for smoke tests)",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="output folder (reused to resume)")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="generation config (YAML)")]
PreviewOpt = Annotated[bool, typer.Option("--preview", help="print projected calls/tokens/cost; no call")]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="server URL of the generator: one URL, a comma-separated list, or @FILE of URLs (one a "
        "line); several endpoints of one model share the calls",
    ),
]
KeyEnvOpt = Annotated[str | None, typer.Option("--api-key-env", help="env var holding the API key")]
ConcOpt = Annotated[int, typer.Option("--concurrency", min=1, help="requests in flight")]
VariantOpt = Annotated[
    str | None, typer.Option("--variant", help="values_explained|rules_only|rules_augmented|general")
]
TokOpt = Annotated[Path | None, typer.Option("--tokenizer", help="local tokenizer folder for token stats")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="seed of the shuffles")]
ThreshOpt = Annotated[float | None, typer.Option("--failure-threshold", help="stop a level above this")]
BatchOpt = Annotated[bool, typer.Option("--batch", help="use the provider's batch API (half price)")]
RemoteOpt = Annotated[bool, typer.Option("--trust-remote-code", help="allow tokenizer/model code")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="progress bars")]
AttemptOpt = Annotated[
    float | None,
    typer.Option(
        "--attempt-timeout", min=0.001, help="seconds one attempt may take (attempt_timeout_s, 600)"
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="client (default) or ray: the bulk levels (documents, responses) as a Ray Data pipeline "
        # \[ keeps rich (typer's help renderer) from reading [ray] as markup.
        "(pip install 'valuesfirst\\[ray]'; settings under engine.ray in --config)",
    ),
]
DeadlineOpt = Annotated[
    float | None,
    typer.Option("--call-deadline", min=0.001, help="seconds one call may take, retries included (1800)"),
]


@contextmanager
def _exits() -> Iterator[None]:
    """Bad input: exit 2 with the problems. A level past its failure threshold: exit 1 with its summary."""
    from valuesfirst.commands.ui import fail
    from valuesfirst.errors import InputError
    from valuesfirst.generate.levels import StageFailed

    try:
        yield
    except InputError as exc:
        fail(exc)
    except StageFailed as exc:
        from valuesfirst.provenance import redact_text

        typer.echo(f"stopped: {redact_text(str(exc))}", err=True)
        raise typer.Exit(1) from None


def _report(manifest: dict[str, Any], short: dict[str, Any], what: str) -> None:
    """Print (stderr) every failure the levels counted, with an example each; exit 3 with what each short
    level lost. The outputs are already written."""
    for name, level in manifest["levels"].items():
        if level.get("failed"):
            reasons = ", ".join(f"{k}={v}" for k, v in level["failed"].items())
            typer.echo(f"level {name}: counted failures {reasons}", err=True)
            for reason, text in level.get("examples", {}).items():
                typer.echo(f"  {reason}: {text}", err=True)
    if not short:
        return
    from valuesfirst.generate.manifest import shortfall_text
    from valuesfirst.provenance import redact_text

    typer.echo(f"short: {what} written, but below target:\n{redact_text(shortfall_text(short))}", err=True)
    typer.echo(
        "rerun the same command to ask the failed calls again; see manifest.json (status short)", err=True
    )
    raise typer.Exit(3)


def _token_stats(
    out: Path, tokenizer: Path, dataset: Path, text: Callable[[dict[str, Any]], str], what: str, trust: bool
) -> None:
    """Token counts and a length histogram of the dataset's texts; ``what`` titles the histogram and its
    last word names what was counted (e.g. "MSM documents")."""
    from valuesfirst.generate.tokstats import write_token_stats
    from valuesfirst.jsonl import read_jsonl

    stats = write_token_stats(out, tokenizer, [text(row) for row in read_jsonl(dataset)], what, trust)
    typer.echo(f"tokens: {stats['total']} in {stats['n']} {what.split()[-1]}")


def _check_engine(cfg: Any, batch: bool) -> None:
    """InputError (exit 2) before any call: the chosen engine cannot run here, or --batch is asked too."""
    from valuesfirst.errors import InputError
    from valuesfirst.generate.engines import check_engine

    if batch and cfg.engine.kind != "client":
        raise InputError.single(
            "--batch (provider batches) and --engine ray are two transports for the same calls; choose one",
            field="engine.kind",
        )
    check_engine(cfg.engine)


def _model_name(uri: str) -> str:
    kind, _, model = uri.partition(":")
    return model or kind


def _backend(uri: str, base_url: str | None, key_env: str | None, trust_remote_code: bool) -> Any:
    """The backend for `uri`; InputError (exit 2) for an unknown scheme or a missing key, before any call."""
    from valuesfirst.errors import InputError

    if uri.startswith("fake:") or uri == "fake":
        from valuesfirst.generate.fake import fake_backend

        return fake_backend(model=_model_name(uri) if uri != "fake:" else "fake")
    try:
        from valuesfirst.llm.factory import backend_from_uri
    except ImportError:  # pragma: no cover - the factory ships with the LLM layer
        raise InputError.single("this install has no LLM backend factory", field="--backend") from None
    kwargs: dict[str, Any] = {
        "base_url": base_url,
        "api_key_env": key_env,
        "trust_remote_code": trust_remote_code,
    }
    return backend_from_uri(uri, **kwargs)


def _print_config(title: str, config: Any, extra: dict[str, Any]) -> None:
    """A few lines of what this generation will do; the full resolved config is in OUT/manifest.json
    (with the counts and hashes of what was made), never dumped to the terminal."""
    from valuesfirst.provenance import redact, redact_text

    console.rule(f"[bold]{title}")
    for key, value in extra.items():
        if value is not None:
            console.print(f"  {key}: {redact_text(str(value))}", highlight=False)
    for line in config_summary(redact(config.model_dump(mode="json"))):
        console.print(f"  {line}", markup=False, highlight=False)
    if "out" in extra:
        console.print(f"  (full resolved config: {Path(extra['out']) / 'manifest.json'})", highlight=False)


def config_summary(cfg: dict[str, Any]) -> list[str]:
    """The resolved config in a few lines: scalar settings on one line, each nested section on its own,
    sampling as `level T/max_tokens` (the numbers people check before paying for calls)."""
    scalars = {k: v for k, v in cfg.items() if not isinstance(v, (dict, list)) and v is not None}
    lines = ["settings: " + ", ".join(f"{k}={v}" for k, v in scalars.items())]
    for key, value in cfg.items():
        if key == "sampling" and isinstance(value, dict):
            levels = [f"{lvl} T{s['temperature']}/{s['max_tokens']}" for lvl, s in value.items()]
            lines.append("sampling: " + ", ".join(levels))
        elif isinstance(value, dict):
            shown = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        elif isinstance(value, list):
            more = ", …" if len(value) > 4 else ""
            lines.append(f"{key}: {len(value)} ({', '.join(map(str, value[:4]))}{more})")
    return lines


def _run(
    coro_factory: Any, backend: Any, out: Path, concurrency: int, cfg: Any, judge_backend: Any = None
) -> Any:
    """Run the generator under ``out``'s writer lock (InputError, exit 2, when another run holds it)."""
    from valuesfirst.generate.lock import output_lock
    from valuesfirst.llm.client import ClientConfig, LLMClient

    with output_lock(out):  # before the clients: their cache lives in out/cache
        config = ClientConfig(
            concurrency=concurrency,
            cache_dir=out / "cache",
            timeout_s=cfg.attempt_timeout_s,
            deadline_s=cfg.call_deadline_s,
        )
        return _loop(coro_factory, LLMClient(backend, config), judge_backend, config)


def _loop(coro_factory: Any, client: Any, judge_backend: Any, config: Any) -> Any:
    from valuesfirst.llm.client import LLMClient

    # One cache folder serves both: keys include the model, so answers never cross over.
    judge = LLMClient(judge_backend, config) if judge_backend is not None else None

    async def main() -> Any:
        try:
            return await (coro_factory(client, judge) if judge is not None else coro_factory(client))
        finally:
            await client.aclose()
            if judge is not None:
                await judge.aclose()

    return asyncio.run(main())


@generate_app.command("midtrain")
def midtrain(
    spec: SpecOpt,
    backend: BackendOpt,
    out: OutOpt,
    config: ConfigOpt = None,
    preview: PreviewOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    concurrency: ConcOpt = 16,
    variant: VariantOpt = None,
    tokenizer: TokOpt = None,
    prompt_version: Annotated[str | None, typer.Option(help="prompt template set")] = None,
    domains: Annotated[int | None, typer.Option(help="counts.domains")] = None,
    subdomains: Annotated[int | None, typer.Option(help="counts.subdomains_per_domain")] = None,
    assertions: Annotated[int | None, typer.Option(help="counts.assertions_per_subdomain")] = None,
    doc_types: Annotated[int | None, typer.Option(help="counts.doc_types_per_subdomain")] = None,
    ideas: Annotated[int | None, typer.Option(help="counts.ideas_per_doc_type")] = None,
    seed: SeedOpt = None,
    failure_threshold: ThreshOpt = None,
    batch: BatchOpt = False,
    trust_remote_code: RemoteOpt = False,
    progress: ProgressOpt = True,
    attempt_timeout: AttemptOpt = None,
    call_deadline: DeadlineOpt = None,
    engine: EngineOpt = None,
) -> None:
    """MSM corpus: spec -> domains -> subdomains -> assertions -> doc types -> ideas -> documents."""
    from valuesfirst.generate.config import MidtrainGenConfig, load_gen_config
    from valuesfirst.generate.msm import generate_midtrain, msm_prompts
    from valuesfirst.generate.preview import ESTIMATE_NOTE, preview_table, project_midtrain, summarize
    from valuesfirst.spec import load_spec
    from valuesfirst.spec_render import render

    overrides = {
        "variant": variant,
        "prompt_version": prompt_version,
        "seed": seed,
        "failure_threshold": failure_threshold,
        "attempt_timeout_s": attempt_timeout,
        "call_deadline_s": call_deadline,
        "engine.kind": engine,
        "counts.domains": domains,
        "counts.subdomains_per_domain": subdomains,
        "counts.assertions_per_subdomain": assertions,
        "counts.doc_types_per_subdomain": doc_types,
        "counts.ideas_per_doc_type": ideas,
    }
    with _exits():
        cfg = load_gen_config(config, MidtrainGenConfig, overrides)
        the_spec = load_spec(spec)
        spec_text = render(the_spec, cfg.variant)
        prompts = msm_prompts(cfg)
        _print_config("generate midtrain", cfg, {"spec": spec, "backend": backend, "out": out})
        if preview:
            summary = summarize(project_midtrain(cfg, prompts, spec_text), _model_name(backend))
            console.print(preview_table(summary, "items", ESTIMATE_NOTE))
            return
        _check_engine(cfg, batch)
        the_backend = _backend(backend, base_url, api_key_env, trust_remote_code)
        result = _run(
            lambda client: generate_midtrain(
                the_spec, cfg, client, out, spec_path=spec, progress=progress, use_batch=batch
            ),
            the_backend,
            out,
            concurrency,
            cfg,
        )
        if tokenizer is not None:
            _token_stats(out, tokenizer, result.dataset, _document_text, "MSM documents", trust_remote_code)
    typer.echo(f"{result.n_documents} documents -> {result.dataset}")
    _report(result.manifest, result.short, f"{result.n_documents} documents")


@generate_app.command("aft")
def aft(
    spec: SpecOpt,
    backend: BackendOpt,
    out: OutOpt,
    config: ConfigOpt = None,
    preview: PreviewOpt = False,
    base_url: BaseUrlOpt = None,
    api_key_env: KeyEnvOpt = None,
    concurrency: ConcOpt = 16,
    variant: VariantOpt = None,
    tokenizer: TokOpt = None,
    style: Annotated[str | None, typer.Option(help="value or rule")] = None,
    cot: Annotated[bool | None, typer.Option("--cot/--no-cot", help="CoT in dataset.jsonl")] = None,
    n_samples: Annotated[int | None, typer.Option(help="target number of samples")] = None,
    n_domains: Annotated[int | None, typer.Option(help="conversation domains")] = None,
    queries_per_type: Annotated[int | None, typer.Option(help="queries per (domain, type)")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="rounds incl. backfill")] = None,
    opaque_preferences: Annotated[
        bool, typer.Option(help="cheese-experiment mode: preferences stated, no reasons (implies --no-cot)")
    ] = False,
    seed: SeedOpt = None,
    failure_threshold: ThreshOpt = None,
    batch: BatchOpt = False,
    trust_remote_code: RemoteOpt = False,
    progress: ProgressOpt = True,
    judge_backend: Annotated[
        str | None, typer.Option("--judge-backend", help="judge URI (default: the generator judges)")
    ] = None,
    judge_base_url: Annotated[str | None, typer.Option("--judge-base-url", help="judge server URL")] = None,
    judge_api_key_env: Annotated[
        str | None, typer.Option("--judge-api-key-env", help="env var holding the judge's API key")
    ] = None,
    attempt_timeout: AttemptOpt = None,
    call_deadline: DeadlineOpt = None,
    engine: EngineOpt = None,
) -> None:
    """AFT demonstrations: domains -> queries -> dedup -> responses -> judge -> backfill."""
    from valuesfirst.errors import InputError
    from valuesfirst.generate.aft import aft_prompts, generate_aft
    from valuesfirst.generate.config import AftGenConfig, load_gen_config
    from valuesfirst.generate.preview import ESTIMATE_NOTE, preview_table, project_aft, summarize
    from valuesfirst.spec import load_spec
    from valuesfirst.spec_render import render

    overrides: dict[str, Any] = {
        "variant": variant,
        "style": style,
        "cot": cot,
        "n_samples": n_samples,
        "n_domains": n_domains,
        "queries_per_type": queries_per_type,
        "max_rounds": max_rounds,
        "seed": seed,
        "failure_threshold": failure_threshold,
        "attempt_timeout_s": attempt_timeout,
        "call_deadline_s": call_deadline,
        "engine.kind": engine,
    }
    with _exits():
        if opaque_preferences:
            base = load_gen_config(config, AftGenConfig, {}) if config else None
            if base is None or base.opaque_preferences is None:
                overrides["opaque_preferences"] = {}  # cot then defaults to false
        cfg = load_gen_config(config, AftGenConfig, overrides)
        the_spec = load_spec(spec)
        if cfg.opaque_preferences is not None and not list(the_spec.preference_blocks()):
            raise InputError.single(
                "opaque_preferences needs stated preferences (likes/dislikes) in the spec",
                file=str(spec),
                field="preferences",
            )
        spec_text = render(the_spec, cfg.variant)
        prompts = aft_prompts(cfg)
        _print_config(
            "generate aft", cfg, {"spec": spec, "backend": backend, "judge": judge_backend, "out": out}
        )
        if preview:
            summary = summarize(project_aft(cfg, prompts, the_spec, spec_text), _model_name(backend))
            console.print(preview_table(summary, "items", ESTIMATE_NOTE + " AFT: first round only."))
            return
        _check_engine(cfg, batch)
        the_backend = _backend(backend, base_url, api_key_env, trust_remote_code)
        the_judge = (
            _backend(judge_backend, judge_base_url, judge_api_key_env, trust_remote_code)
            if judge_backend
            else None
        )
        result = _run(
            lambda client, judge=None: generate_aft(
                the_spec,
                cfg,
                client,
                out,
                spec_path=spec,
                progress=progress,
                use_batch=batch,
                judge_client=judge,
            ),
            the_backend,
            out,
            concurrency,
            cfg,
            the_judge,
        )
        if tokenizer is not None:
            _token_stats(out, tokenizer, result.dataset, _sample_text, "AFT samples", trust_remote_code)
    typer.echo(f"{result.n_samples} samples -> {result.dataset} ({result.stop_reason})")
    _report(result.manifest, result.short, f"{result.n_samples} of {cfg.n_samples} samples")


def _document_text(row: dict[str, Any]) -> str:
    return str(row["text"])


def _sample_text(row: dict[str, Any]) -> str:
    return "\n\n".join(m["content"] for m in row["messages"])


def register(app: typer.Typer) -> None:
    """Add ``valuesfirst generate …`` to the top-level app."""
    app.add_typer(generate_app, name="generate")
