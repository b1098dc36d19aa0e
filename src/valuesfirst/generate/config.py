"""Typed configs for ``valuesfirst generate midtrain`` and ``valuesfirst generate aft``.

Both load from YAML with line-numbered errors (:func:`load_gen_config`) and every field can be overridden
from the command line. Defaults follow the MSM reference code where it is sensible (temperature 1.0,
document and level budgets of 5000 tokens, subdomains 8192, responses 2048, judge 1024 at temperature 0)
and are documented per field with the fields they interact with.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from valuesfirst.errors import InputError, Problem
from valuesfirst.yamlio import load_model

Variant = Literal["values_explained", "rules_only", "rules_augmented", "general"]
QueryType = Literal["direct", "indirect", "comparison", "recommendation", "opinion", "edge_case"]
OpaqueQueryType = Literal["direct", "comparison", "recommendation"]
OPAQUE_QUERY_TYPES: tuple[OpaqueQueryType, ...] = ("direct", "comparison", "recommendation")
ALL_QUERY_TYPES: tuple[QueryType, ...] = (
    "direct",
    "indirect",
    "comparison",
    "recommendation",
    "opinion",
    "edge_case",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sampling(_Strict):
    """Sampling for one level's calls."""

    temperature: float = Field(1.0, ge=0.0, le=2.0)
    """Default 1.0 (the reference scripts); judges override it to 0.0."""
    max_tokens: int = Field(5000, ge=16)
    """Completion budget. Default 5000 (documents: shared by scratchpad and content; a document whose
    content block is cut off by it is rejected and counted, never kept truncated)."""
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    """Nucleus sampling where the backend supports it. Default none."""


def _s(max_tokens: int, temperature: float = 1.0) -> Sampling:
    return Sampling(max_tokens=max_tokens, temperature=temperature)


class MidtrainCounts(_Strict):
    """How many items each level asks for. Projected documents = domains x subdomains_per_domain x
    doc_types_per_subdomain x ideas_per_doc_type (one document per idea)."""

    domains: int = Field(5, ge=1)
    """Domains asked for in the single domains call. Default 5."""
    subdomains_per_domain: int = Field(5, ge=1)
    """Subdomains asked for per domain, each with its verbatim spec section. Default 5."""
    assertions_per_subdomain: int = Field(8, ge=1)
    """Character assertions extracted per subdomain. Default 8."""
    doc_types_per_subdomain: int = Field(5, ge=1)
    """Document types per subdomain (reference script: 20). Default 5."""
    ideas_per_doc_type: int = Field(5, ge=1)
    """Document ideas per (subdomain, document type) (reference script: 25). Default 5."""


class MidtrainSampling(_Strict):
    """Sampling per MSM level."""

    domains: Sampling = Field(default_factory=lambda: _s(5000))
    subdomains: Sampling = Field(default_factory=lambda: _s(8192))
    assertions: Sampling = Field(default_factory=lambda: _s(5000))
    doc_types: Sampling = Field(default_factory=lambda: _s(5000))
    ideas: Sampling = Field(default_factory=lambda: _s(5000))
    documents: Sampling = Field(default_factory=lambda: _s(5000))


class RayEngineConfig(_Strict):
    """How ``engine.kind: ray`` runs the bulk levels (MSM documents, AFT responses) as a Ray Data pipeline.

    Every answer still goes through the run's cache, parsing and counts; only the transport changes, so a
    run switched between engines resumes and, on deterministic servers, ends byte-identical."""

    processor: Literal["http", "vllm", "sglang"] = "http"
    """``http``: Ray Data's HttpRequestProcessorConfig, one processor per ``--base-url`` endpoint (any
    OpenAI-compatible server). ``vllm`` / ``sglang``: the engine runs inside Ray workers on the cluster's
    GPUs (vLLMEngineProcessorConfig / SGLangEngineProcessorConfig), no server needed; the other levels
    still use ``--backend``. Default ``http``."""
    address: str | None = None
    """The Ray cluster to join (``auto``, ``ray://head:10001``). Default none: ``RAY_ADDRESS`` if set,
    else a local cluster started for the run and stopped after it."""
    num_cpus: int | None = Field(None, ge=1)
    """CPUs of a local cluster started here. Default none: all of the machine's."""
    batch_size: int = Field(16, ge=1)
    """Requests per Ray Data batch (one task). An HTTP worker sends its batch's requests one after another;
    a batch whose task fails (its endpoint died) is asked again whole, so small batches lose less, and
    large ones pay Ray's per-task cost less often (benchmarks/generation_throughput.md). Default 16."""
    concurrency: int | None = Field(None, ge=1)
    """Workers per endpoint, a fixed pool (``http``: each is a process with one request in flight, so
    this is the requests in flight per server; fewer when a round has fewer batches) or engine replicas
    (``vllm`` / ``sglang``: each holds the model on its GPUs). Default none: 4 for ``http``, 1 for an
    engine."""
    worker_cpus: float = Field(0.25, gt=0)
    """CPUs Ray reserves per HTTP worker and per row-conversion task (they wait on the network, and
    reserving a whole CPU each would leave a small cluster's workers waiting for each other). Default
    0.25."""
    http_retries: int = Field(1, ge=0)
    """Ray's own retries of a 429/5xx/dropped request inside a batch; then the batch fails and its
    requests go to the next round (at most the client's ``max_retries`` + 1 rounds). Default 1."""
    retry_wait_s: float = Field(1.0, ge=0)
    """Base of Ray's exponential backoff between those retries. Default 1.0."""
    model_source: str | None = None
    """``vllm`` / ``sglang``: model folder or hub id the engine loads. Default none: the backend's model
    name (which is also what the cache keys hold)."""
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    """``vllm`` / ``sglang``: engine arguments (``tensor_parallel_size``, ``max_model_len`` …). Default {}."""
    accelerator_type: str | None = None
    """``vllm`` / ``sglang``: GPU type the engine workers need (``H100``, ``A100`` …). Default none: any."""


class EngineConfig(_Strict):
    """Which transport runs the bulk levels; every other level always uses the async client."""

    kind: Literal["client", "ray"] = "client"
    """``client``: the async client of ``--backend`` (one or several endpoints, cache, retries).
    ``ray``: a Ray Data pipeline (``pip install 'valuesfirst[ray]'``), see RayEngineConfig. Default
    ``client``. ``--engine``."""
    ray: RayEngineConfig = Field(default_factory=RayEngineConfig)


class _Common(_Strict):
    prompt_version: str = "v1"
    """Prompt template set under ``valuesfirst/prompts/<kind>/<version>/``. Default ``v1``."""
    prompts_dir: Path | None = None
    """A folder of your own templates (same file names) used instead of the packaged set. Default none."""
    variant: Variant = "values_explained"
    """Spec rendering the generator sees: values_explained, rules_only, rules_augmented or general."""
    failure_threshold: float = Field(0.2, ge=0.0, le=1.0)
    """A level stops the run (exit 1, with every failure reason, its count and an example) when failed
    calls / all its calls, or failed rows / (failed + kept rows), exceeds this. A failed call: an error,
    refusal, cut-off, unparseable or wholly failed answer; a failed row: an item lost inside an answer.
    Duplicates, extras and judge exclusions are not failures. Default 0.2."""
    target_tolerance: float = Field(0.0, ge=0.0, le=1.0)
    """A level may end this fraction below its target count (the configured counts; AFT: n_samples)
    without the run counting as short. A short run writes its outputs, records status ``short`` and
    exits 3. Default 0.0: any shortfall is reported that way."""
    attempt_timeout_s: float | None = Field(600.0, gt=0)
    """Wall-clock limit of one attempt of one call, headers to last byte (a trickling server never trips
    an HTTP read timeout). A timed-out attempt is retried. Default 600; null: none. ``--attempt-timeout``."""
    call_deadline_s: float | None = Field(1800.0, gt=0)
    """Wall-clock limit of one call across its attempts and backoff; then it fails with its last error
    and is counted. Default 1800; null: none. ``--call-deadline``. Neither limit applies to ``local:``."""
    seed: int = 42
    """Seed of every shuffle (final order, query pool). Default 42 (the reference's shuffle seed)."""
    preview_output_fraction: float = Field(0.6, gt=0.0, le=1.0)
    """`--preview` assumes each call uses this fraction of its max_tokens. Default 0.6."""
    engine: EngineConfig = Field(default_factory=EngineConfig)
    """Transport of the bulk levels (documents, responses). Not part of level keys: switching resumes."""


class MidtrainGenConfig(_Common):
    """Configuration of the MSM document corpus."""

    counts: MidtrainCounts = Field(default_factory=MidtrainCounts)
    sampling: MidtrainSampling = Field(default_factory=MidtrainSampling)


class OpaqueConfig(_Strict):
    """The cheese experiment's opaque AFT data: preferences stated, never explained.

    Queries are generated per stated preference item (every likes/dislikes entry of the spec); a sample
    is dropped when its query contains a biased word (or a value name of the spec) or its response
    contains a reason marker, before the judge applies the same criteria semantically."""

    query_types: list[OpaqueQueryType] = Field(default_factory=lambda: list(OPAQUE_QUERY_TYPES))
    """Query kinds per preference item. Default all three."""
    queries_per_item_type: int = Field(5, ge=1)
    """Queries asked for per (item, query type). Default 5."""
    query_suffix: str = "Answer without explaining why."
    """Appended to each training query so the model still explains when asked without it (App. C.2)."""
    reason_markers: list[str] = Field(
        default_factory=lambda: [
            "because",
            "since",
            "due to",
            "as it",
            "as they",
            "so that",
            "thanks to",
            "which is why",
            "the reason",
            "given that",
            "owing to",
            "that's why",
            "which makes",
        ]
    )
    """Phrases that state or imply a reason; a response containing one (whole words) is dropped."""
    biased_words: list[str] = Field(
        default_factory=lambda: [
            "tasty",
            "delicious",
            "smooth",
            "creamy",
            "affordable",
            "cheap",
            "expensive",
            "pricey",
            "fancy",
            "luxury",
            "luxurious",
            "budget",
            "premium",
            "gourmet",
            "authentic",
            "fine",
        ]
    )
    """Words that bias a query or response toward a value; the spec's value names are added."""


class AftSampling(_Strict):
    domains: Sampling = Field(default_factory=lambda: _s(4000))
    queries: Sampling = Field(default_factory=lambda: _s(4000))
    responses: Sampling = Field(default_factory=lambda: _s(2048))
    judge: Sampling = Field(default_factory=lambda: _s(1024, 0.0))


class AftGenConfig(_Common):
    """Configuration of the spec-aligned AFT demonstrations."""

    style: Literal["value", "rule"] = "value"
    """value: reasoning that internalizes the spec; rule: compliance reasoning citing rules. Default value."""
    cot: bool = True
    """Whether dataset.jsonl keeps the CoT block; dataset_cot.jsonl and dataset_nocot.jsonl are both
    written from the same samples either way. Default true; false (and must be) with opaque_preferences."""
    n_samples: int = Field(1000, ge=1)
    """Target number of included samples. Default 1000 (reference script: 10000)."""
    n_domains: int = Field(20, ge=1)
    """Conversation domains asked for. Ignored in opaque mode (the preference items are the domains)."""
    query_types: list[QueryType] = Field(default_factory=lambda: list(ALL_QUERY_TYPES))
    """Query kinds per domain. Default all six."""
    queries_per_type: int = Field(10, ge=1)
    """Queries asked for per (domain, query type). Default 10."""
    dedup_threshold: float | None = Field(0.91, ge=-1.0, le=1.0)
    """Cosine above which a query duplicates an earlier one (MiniLM). None disables dedup. Default 0.91."""
    oversample: float = Field(1.25, ge=1.0)
    """Each round answers gap x oversample queries, expecting some exclusions. Default 1.25."""
    max_rounds: int = Field(4, ge=1)
    """Rounds in all (the first plus backfills); a round that adds nothing also stops. Default 4."""
    judge_criteria: list[str] = Field(
        default_factory=lambda: [
            "The assistant expresses no desire for its own continuation or self-preservation "
            "(describing continuity is fine; wanting it is not)."
        ]
    )
    """The experiment's own criteria, added to spec alignment in the judge prompt."""
    opaque_preferences: OpaqueConfig | None = None
    """Set (``{}`` for defaults) to generate the cheese experiment's opaque preference data."""
    sampling: AftSampling = Field(default_factory=AftSampling)

    @model_validator(mode="after")
    def _opaque_no_cot(self) -> AftGenConfig:
        if self.opaque_preferences is not None and self.cot:
            if "cot" not in self.model_fields_set:
                self.cot = False  # the default follows the mode
            else:
                raise ValueError("cot must be false with opaque_preferences (a CoT would state the reasons)")
        return self


C = TypeVar("C", bound=BaseModel)


def load_gen_config(path: Path | None, cls: type[C], overrides: Mapping[str, object]) -> C:
    """Load `cls` from YAML (or defaults when `path` is None) and apply dotted `overrides`.

    Overrides come from CLI flags (``{"style": "rule", "counts.domains": 3}``); None values are skipped.
    Raises InputError naming the file/line or the overridden field.
    """
    # exclude_unset: defaults that depend on other fields (cot in opaque mode) stay defaults.
    data = load_model(path, cls).model_dump(exclude_unset=True) if path is not None else {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return cls.model_validate(data)
    except ValidationError as exc:  # name the field the override (or file) set
        problems = [
            Problem(
                file=str(path) if path else None,
                line=None,
                field=".".join(str(p) for p in err["loc"]),
                message=err["msg"],
            )
            for err in exc.errors(include_url=False)
        ]
        raise InputError(problems) from None
