"""AFT levels: conversation domains (or, in opaque mode, the spec's preference items) -> user queries ->
near-duplicate removal -> a seeded query pool that the response rounds draw from."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from valuesfirst.generate.config import AftGenConfig, Sampling
from valuesfirst.generate.levels import LevelStats, Row, Runner, json_objects, take
from valuesfirst.generate.msm_outline import params
from valuesfirst.generate.parsing import parse_json_list, stable_id
from valuesfirst.generate.templates import PromptSet
from valuesfirst.llm.types import ChatRequest
from valuesfirst.spec import Spec

TYPE_DESCRIPTIONS = {
    "direct": "asks the assistant directly about its values, views or conduct",
    "indirect": "a task or situation where the values matter without being named",
    "comparison": "asks the assistant to compare two options, views or courses of action",
    "recommendation": "asks the assistant for a recommendation or advice",
    "opinion": "asks for the assistant's own opinion",
    "edge_case": "an unusual, ambiguous or adversarial situation that tests the values",
}


@dataclass(frozen=True)
class AftContext:
    config: AftGenConfig
    prompts: PromptSet
    spec: Spec
    spec_text: str

    def fields(self) -> dict[str, object]:
        ident = self.spec.identity
        return {"name": ident.name, "developer": ident.developer, "spec": self.spec_text.strip()}

    def request(
        self, stage: str, template: str, sampling: Sampling, sample: int = 0, **kw: object
    ) -> ChatRequest:
        system = self.prompts.render("system", **self.fields())
        user = self.prompts.render(template, **self.fields(), **kw)
        return ChatRequest.of(user, system=system, params=params(sampling), sample=sample, stage=stage)


def word_pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    """Case-insensitive whole-word (or whole-phrase) matcher; None for an empty list."""
    cleaned = [w.strip() for w in words if w.strip()]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)


async def domains(ctx: AftContext, runner: Runner) -> list[Row]:
    n = ctx.config.n_domains

    def build(_: int) -> ChatRequest:
        return ctx.request("aft.domains", "domains", ctx.config.sampling.domains, n=n)

    def parse(_: int, text: str, stats: LevelStats) -> list[Row]:
        objects = json_objects(text, n, stats, "name", "description")
        return [{"id": stable_id("aft_domain", got["name"], got["description"]), **got} for _, got in objects]

    return await runner.level("domains", [0], build, parse, target=n)


def preference_items(spec: Spec, seed: int) -> list[Row]:
    """Opaque mode's "domains": every stated like and dislike, each with a seeded comparison partner of
    the opposite polarity from the same block."""
    rows: list[Row] = []
    rng = random.Random(seed)
    for _, prefs in spec.preference_blocks():
        for polarity, _, item in prefs.items():
            others = prefs.dislikes if polarity == "likes" else prefs.likes
            rows.append(
                {
                    "id": stable_id("pref_item", prefs.domain, polarity, item),
                    "name": item,
                    "polarity": polarity,
                    "pref_domain": prefs.domain,
                    "partner": rng.choice(others),
                }
            )
    return rows


async def queries(ctx: AftContext, runner: Runner, domain_rows: list[Row], round_: int) -> list[Row]:
    """One call per (domain, query type); ``round_`` is the sample index, so a backfill round asks again
    and gets new queries without colliding with the first round's cached answers."""
    opaque = ctx.config.opaque_preferences
    if opaque is not None:
        types: list[str] = list(opaque.query_types)
        n = opaque.queries_per_item_type
    else:
        types, n = list(ctx.config.query_types), ctx.config.queries_per_type
    items = [(d, t) for d in domain_rows for t in types]

    def build(item: tuple[Row, str]) -> ChatRequest:
        domain, qtype = item
        kw: dict[str, Any] = {"n": n, "query_type": qtype, "type_description": TYPE_DESCRIPTIONS[qtype]}
        if opaque is not None:
            partner = f"Compare it with: {domain['partner']}\n" if qtype == "comparison" else ""
            return ctx.request(
                "aft.queries",
                "opaque_queries",
                ctx.config.sampling.queries,
                round_,
                item=domain["name"],
                partner_line=partner,
                **kw,
            )
        return ctx.request(
            "aft.queries",
            "queries",
            ctx.config.sampling.queries,
            round_,
            domain=domain["name"],
            description=domain["description"],
            **kw,
        )

    def parse(item: tuple[Row, str], text: str, stats: LevelStats) -> list[Row]:
        domain, qtype = item
        rows = []
        for query in take(parse_json_list(text), n, stats):
            if not isinstance(query, str) or not query.strip():
                stats.fail("bad_item", example=f"expected a non-empty string, got {json.dumps(query)[:80]}")
                continue
            rows.append(
                {
                    "id": stable_id("query", domain["id"], qtype, query.strip()),
                    "domain_id": domain["id"],
                    "domain": domain["name"],
                    "query_type": qtype,
                    "text": query.strip(),
                    "round": round_,
                }
            )
        return rows

    return await runner.level(f"queries_r{round_}", items, build, parse)


Dedup = Callable[[list[str]], list[int]]
"""Maps texts to the indices to keep (first occurrence wins, order preserved)."""


def extend_pool(
    runner: Runner,
    pool: list[Row],
    new: list[Row],
    round_: int,
    seed: int,
    dedup: Dedup | None,
    biased: re.Pattern[str] | None,
) -> list[Row]:
    """The pool after adding round `round_`'s queries: biased ones (opaque mode) and near-duplicates of
    any earlier query are dropped, the rest are shuffled with a per-round seed and appended. Checkpointed,
    so a rerun does not embed again."""
    name = f"pool_r{round_}"
    inputs = ([r["id"] for r in pool], [r["id"] for r in new])
    done = runner.store.load(name, inputs)
    if done is not None:
        runner.stats[name] = done[1]
        return pool + done[0]
    stats = LevelStats(level=name, calls=0)
    fresh = []
    for row in new:
        if biased is not None and biased.search(row["text"]):
            stats.drop("biased_query")
        else:
            fresh.append(row)
    if dedup is not None and fresh:
        keep = set(dedup([r["text"] for r in pool] + [r["text"] for r in fresh]))
        kept = [r for i, r in enumerate(fresh) if len(pool) + i in keep]
        stats.drop("near_duplicate", len(fresh) - len(kept))
        fresh = kept
    random.Random(f"{seed}:{round_}").shuffle(fresh)
    fresh = runner.finish(stats, fresh)
    runner.store.save(name, inputs, fresh, stats)
    return pool + fresh
