"""Superficial-pattern pass: find surface habits that recur across generated samples, and measure them.

Data that scores well can still teach a habit nobody asked for (the GDM SDF write-up found "always asks
for clarification" hiding in well-rated data). Three passes, after that write-up:

1. **discover**: seeded batches of samples go to a judge, which lists recurring superficial patterns as
   ``<pattern>…</pattern>`` items inside one ``<patterns>`` block. A response that is not exactly that
   (missing/unclosed/repeated block, stray text in the block, over-long item, truncated or failed call)
   is excluded and counted by reason, never half-used.
2. **cluster**: the candidate descriptions are embedded and merged by average-linkage agglomerative
   clustering at a cosine threshold, so paraphrases of one pattern become one; a cluster's support is the
   number of *batches* that reported it, and only clusters seen in at least ``min_support`` batches go on
   (a pattern one batch saw may be that batch's accident).
3. **count**: for each pattern, the judge answers ``<answer>yes</answer>`` or ``<answer>no</answer>`` for
   every sample of one larger seeded sample (the same samples for every pattern, so rates are comparable).
   Anything else — two answers, none, "yesterday", empty, truncated, failed — is excluded and counted.
   The rate is yes / (yes + no) with a Wilson 95% interval; patterns whose rate reaches
   ``report_threshold`` are reported.

Judges run at temperature 0. Prompts are ``prompts/quality/v1/{system,discover,count}.txt``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from valuesfirst.binomial import wilson_from_counts
from valuesfirst.data.embed import Embedder, embed_normalized
from valuesfirst.generate.parsing import ParseFailure, extract_block
from valuesfirst.generate.templates import PromptSet, load_prompts
from valuesfirst.llm.client import LLMClient
from valuesfirst.llm.types import ChatRequest, ChatResponse, SamplingParams

__all__ = [
    "Cluster",
    "PatternCount",
    "PatternsConfig",
    "PatternsReport",
    "cluster_descriptions",
    "find_patterns",
    "parse_patterns",
    "parse_verdict",
]

PROMPT_NAMES = ("system", "discover", "count")
STAGE_DISCOVER = "quality.patterns.discover"
STAGE_COUNT = "quality.patterns.count"
_ITEM = re.compile(r"<pattern>(.*?)</pattern>", re.S)


class PatternsConfig(BaseModel):
    """Settings of the superficial-pattern pass. Judge calls = discovery_batches + patterns x count_samples.

    seed: draws the discovery batches and the counting sample (default 0).
    discovery_batches: batches the judge scans (default 8); with ``min_support`` it decides how often a
        pattern must be seen to be counted.
    batch_size: samples per discovery batch (default 20); fewer samples than this → all of them.
    max_sample_chars: each sample is cut to this many characters in prompts (default 2000); the cut is
        marked, so a judge never mistakes it for the sample's real ending.
    max_description_chars: a discovered description longer than this makes its response unparseable
        (default 300): a pattern is one checkable sentence.
    cluster_threshold: average-linkage cosine at or above which descriptions merge (default 0.55: with
        all-MiniLM-L6-v2, paraphrases of one pattern score 0.5-0.8 and distinct patterns 0.05-0.3; the
        hashing embedder needs shared wording to reach it). Check ``clusters`` in the report.
    min_support: batches that must report a pattern before it is counted (default 2, as in the write-up).
    max_patterns: most patterns counted, highest support first (default 12) — bounds the cost.
    count_samples: samples judged per pattern (default 200; all samples when fewer).
    report_threshold: a pattern is reported when its rate is >= this (default 0.3).
    max_tokens_discovery / max_tokens_verdict: completion budgets; a truncated answer is excluded.
    """

    model_config = {"extra": "forbid"}

    seed: int = 0
    discovery_batches: int = Field(8, ge=1, le=10_000)
    batch_size: int = Field(20, ge=1, le=1000)
    max_sample_chars: int = Field(2000, ge=50)
    max_description_chars: int = Field(300, ge=10)
    cluster_threshold: float = Field(0.55, gt=-1.0, le=1.0)
    min_support: int = Field(2, ge=1)
    max_patterns: int = Field(12, ge=1)
    count_samples: int = Field(200, ge=1)
    report_threshold: float = Field(0.3, ge=0.0, le=1.0)
    max_tokens_discovery: int = Field(1024, ge=16)
    max_tokens_verdict: int = Field(256, ge=8)


@dataclass
class Cluster:
    """Merged pattern: representative description (the member closest to the others), all member
    descriptions, the batches that reported it, support = number of those batches."""

    id: int
    description: str
    members: list[str]
    batches: list[int]
    support: int


@dataclass
class PatternCount:
    pattern_id: int
    description: str
    yes: int
    no: int
    excluded: dict[str, int]
    rate: float | None
    ci: tuple[float, float]
    reported: bool


@dataclass
class PatternsReport:
    config: dict[str, Any]
    judge_model: str
    n_samples: int
    discovery: dict[str, Any]
    clusters: list[Cluster]
    counts: list[PatternCount]
    prompt_hashes: dict[str, str] = field(default_factory=dict)

    @property
    def reported(self) -> list[PatternCount]:
        return [c for c in self.counts if c.reported]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_patterns(response: ChatResponse, max_chars: int) -> list[str]:
    """Descriptions from a discovery answer; raises ParseFailure (reason) for anything not well-formed."""
    _require_clean_finish(response)
    try:
        block = extract_block(response.text, "patterns")
    except ParseFailure as exc:
        if exc.reason == "empty_patterns":
            return []  # the judge saw nothing recurring: a valid answer
        raise
    items = [m.strip() for m in _ITEM.findall(block)]
    if _ITEM.sub("", block).strip():
        raise ParseFailure("stray_text_in_patterns")
    if any(not item for item in items):
        raise ParseFailure("empty_pattern")
    if any(len(item) > max_chars for item in items):
        raise ParseFailure("pattern_too_long")
    if any("<" in item for item in items):
        raise ParseFailure("nested_tag_in_pattern")
    return list(dict.fromkeys(items))  # a pattern listed twice in one answer is one report


def parse_verdict(response: ChatResponse) -> bool:
    """True for exactly one ``<answer>yes</answer>``, False for one ``no``; ParseFailure otherwise."""
    _require_clean_finish(response)
    answer = extract_block(response.text, "answer").lower()
    if answer not in ("yes", "no"):
        raise ParseFailure("bad_answer")
    return answer == "yes"


def _require_clean_finish(response: ChatResponse) -> None:
    if response.finish_reason != "stop":
        raise ParseFailure(response.finish_reason)  # error / length / refusal


def _clip(text: str, limit: int) -> str:
    # Our own delimiters inside a sample would let it close its tag early; break them visibly.
    text = re.sub(r"</?sample\b", lambda m: m.group(0).replace("<", "< "), text)
    return text if len(text) <= limit else text[:limit] + " […cut]"


def _discovery_batches(n: int, cfg: PatternsConfig) -> list[list[int]]:
    """Seeded batches, each drawn without replacement (batches may overlap one another)."""
    rng = random.Random(f"patterns-discover-{cfg.seed}")
    size = min(cfg.batch_size, n)
    return [sorted(rng.sample(range(n), size)) for _ in range(cfg.discovery_batches)]


def cluster_descriptions(
    candidates: Sequence[tuple[int, str]], embedder: Embedder | None, threshold: float
) -> list[Cluster]:
    """Merge ``(batch, description)`` candidates into clusters, ordered by support then first appearance."""
    if not candidates:
        return []
    texts = [text for _, text in candidates]
    if len(texts) == 1:
        labels = np.zeros(1, dtype=int)
        emb = embed_normalized(texts, embedder)
    else:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import pdist

        emb = embed_normalized(texts, embedder).astype(np.float64)
        dist = np.clip(pdist(emb, metric="cosine"), 0.0, 2.0)
        labels = fcluster(linkage(dist, method="average"), t=1.0 - threshold, criterion="distance")
    clusters: list[Cluster] = []
    for label in dict.fromkeys(labels.tolist()):  # labels in order of first appearance
        idx = [i for i, lab in enumerate(labels.tolist()) if lab == label]
        sims = emb[idx] @ emb[idx].T
        rep = idx[int(np.argmax(sims.sum(axis=1)))]
        batches = sorted({candidates[i][0] for i in idx})
        members = list(dict.fromkeys(texts[i] for i in idx))
        clusters.append(Cluster(0, texts[rep], members, batches, len(batches)))
    clusters.sort(key=lambda c: -c.support)  # stable: ties keep first-appearance order
    for i, c in enumerate(clusters):
        c.id = i
    return clusters


async def _discover(
    client: LLMClient, samples: Sequence[str], cfg: PatternsConfig, prompts: PromptSet
) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    batches = _discovery_batches(len(samples), cfg)
    params = SamplingParams(temperature=0.0, max_tokens=cfg.max_tokens_discovery, seed=cfg.seed)
    requests = []
    for batch in batches:
        body = "\n\n".join(
            f'<sample id="{k + 1}">\n{_clip(samples[i], cfg.max_sample_chars)}\n</sample>'
            for k, i in enumerate(batch)
        )
        prompt = prompts.render("discover", count=len(batch), samples=body)
        requests.append(
            ChatRequest.of(
                prompt, system=prompts.texts["system"].strip(), params=params, stage=STAGE_DISCOVER
            )
        )
    responses = await client.complete_many(requests)
    candidates: list[tuple[int, str]] = []
    unparseable: Counter[str] = Counter()
    for b, resp in enumerate(responses):
        try:
            candidates += [(b, d) for d in parse_patterns(resp, cfg.max_description_chars)]
        except ParseFailure as exc:
            unparseable[exc.reason] += 1
    info = {
        "batches": [list(b) for b in batches],
        "parsed": len(responses) - sum(unparseable.values()),
        "unparseable": dict(unparseable),
        "candidates": [{"batch": b, "description": d} for b, d in candidates],
    }
    return candidates, info


async def _count(
    client: LLMClient,
    samples: Sequence[str],
    clusters: Sequence[Cluster],
    cfg: PatternsConfig,
    prompts: PromptSet,
) -> tuple[list[int], list[PatternCount]]:
    rng = random.Random(f"patterns-count-{cfg.seed}")
    chosen = sorted(rng.sample(range(len(samples)), min(cfg.count_samples, len(samples))))
    params = SamplingParams(temperature=0.0, max_tokens=cfg.max_tokens_verdict, seed=cfg.seed)
    system = prompts.texts["system"].strip()
    requests = [
        ChatRequest.of(
            prompts.render("count", pattern=c.description, sample=_clip(samples[i], cfg.max_sample_chars)),
            system=system,
            params=params,
            stage=STAGE_COUNT,
        )
        for c in clusters
        for i in chosen
    ]
    responses = await client.complete_many(requests)
    counts = []
    for k, c in enumerate(clusters):
        verdicts = Counter[str]()
        excluded: Counter[str] = Counter()
        for resp in responses[k * len(chosen) : (k + 1) * len(chosen)]:
            try:
                verdicts["yes" if parse_verdict(resp) else "no"] += 1
            except ParseFailure as exc:
                excluded[exc.reason] += 1
        yes, no = verdicts["yes"], verdicts["no"]
        rate = yes / (yes + no) if yes + no else None
        counts.append(
            PatternCount(
                pattern_id=c.id,
                description=c.description,
                yes=yes,
                no=no,
                excluded=dict(excluded),
                rate=rate,
                ci=wilson_from_counts(yes, yes + no),
                reported=rate is not None and rate >= cfg.report_threshold,
            )
        )
    return chosen, counts


async def find_patterns(
    client: LLMClient,
    samples: Sequence[str],
    config: PatternsConfig | None = None,
    *,
    embedder: Embedder | None = None,
    prompts: PromptSet | None = None,
) -> PatternsReport:
    """Run discover → cluster → count over ``samples`` (see the module docstring)."""
    cfg = config or PatternsConfig()
    if not samples:
        raise ValueError("find_patterns needs at least one sample")
    prompts = prompts or load_prompts("quality", "v1", PROMPT_NAMES)
    candidates, discovery = await _discover(client, samples, cfg, prompts)
    clusters = cluster_descriptions(candidates, embedder, cfg.cluster_threshold)
    counted = [c for c in clusters if c.support >= cfg.min_support][: cfg.max_patterns]
    chosen, counts = await _count(client, samples, counted, cfg, prompts)
    discovery["count_sample"] = chosen
    return PatternsReport(
        config=cfg.model_dump(mode="json"),
        judge_model=client.backend.model,
        n_samples=len(samples),
        discovery=discovery,
        clusters=clusters,
        counts=counts,
        prompt_hashes=prompts.hashes(),
    )


def render_markdown(report: PatternsReport) -> str:
    """A human-readable summary: reported patterns first, then everything counted, then exclusions."""
    cfg = report.config
    n_counted = len(report.discovery.get("count_sample", []))
    lines = [
        "# Superficial patterns",
        "",
        f"{report.n_samples} samples; judge `{report.judge_model}`; {len(report.discovery['batches'])} "
        f"discovery batches ({report.discovery['parsed']} parsed, unparseable: "
        f"{report.discovery['unparseable'] or 'none'}); {len(report.clusters)} distinct patterns, "
        f"{len(report.counts)} seen in >= {cfg['min_support']} batches and counted on "
        f"{n_counted} samples; report threshold {cfg['report_threshold']}.",
        "",
        "| reported | pattern | rate | 95% CI | yes | no | excluded | support |",
        "|---|---|---|---|---|---|---|---|",
    ]
    support = {c.id: c.support for c in report.clusters}
    for c in sorted(report.counts, key=lambda c: -(c.rate or 0.0)):
        rate = "–" if c.rate is None else f"{c.rate:.2f}"
        excluded = sum(c.excluded.values())
        lines.append(
            f"| {'**yes**' if c.reported else 'no'} | {c.description.replace('|', '/')} | {rate} | "
            f"[{c.ci[0]:.2f}, {c.ci[1]:.2f}] | {c.yes} | {c.no} | {excluded} | {support[c.pattern_id]} |"
        )
    if not report.counts:
        lines.append("| – | no pattern reached the support needed to be counted | | | | | | |")
    return "\n".join(lines) + "\n"
