"""MSM levels 4-6: document types per subdomain -> ideas per (subdomain, type) -> one document per idea.

A document is kept only from a closed, non-empty ``<content>`` block; anything else (no block, an
unclosed block cut off by max_tokens, two blocks) is rejected and counted. Ids come from content: an idea
from (subdomain, doc type, idea text), a document from its text, so two ideas that share a name never
collide and a rerun gives every document the same id.
"""

from __future__ import annotations

import json
from collections import defaultdict

from valuesfirst.generate.levels import LevelStats, Row, Runner, json_objects
from valuesfirst.generate.msm_outline import MsmContext
from valuesfirst.generate.parsing import extract_block, stable_id
from valuesfirst.llm.types import ChatRequest


def assertion_list(rows: list[Row]) -> str:
    return "\n".join(f"{r['key']} ({r['label']}): {r['assertion']}" for r in rows) or "(none)"


async def doc_types(ctx: MsmContext, runner: Runner, sub_rows: list[Row]) -> list[Row]:
    n = ctx.config.counts.doc_types_per_subdomain

    def build(sub: Row) -> ChatRequest:
        return ctx.request(
            "doc_types",
            "doc_types",
            ctx.config.sampling.doc_types,
            n=n,
            subdomain=sub["name"],
            context=sub["context"],
            spec_section=sub["spec_section"],
        )

    def parse(sub: Row, text: str, stats: LevelStats) -> list[Row]:
        rows = []
        for _, got in json_objects(text, n, stats, "name", "description"):
            tid = stable_id("doc_type", sub["id"], got["name"], got["description"])
            rows.append({"id": tid, "subdomain_id": sub["id"], **got})
        return rows

    c = ctx.config.counts
    target = c.domains * c.subdomains_per_domain * n
    return await runner.level("doc_types", sub_rows, build, parse, target=target)


def _by(rows: list[Row], key: str) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


async def ideas(
    ctx: MsmContext, runner: Runner, sub_rows: list[Row], assertion_rows: list[Row], type_rows: list[Row]
) -> list[Row]:
    n = ctx.config.counts.ideas_per_doc_type
    subs = {s["id"]: s for s in sub_rows}
    asserts = _by(assertion_rows, "subdomain_id")

    def build(dtype: Row) -> ChatRequest:
        sub = subs[dtype["subdomain_id"]]
        return ctx.request(
            "ideas",
            "ideas",
            ctx.config.sampling.ideas,
            n=n,
            subdomain=sub["name"],
            spec_section=sub["spec_section"],
            assertions=assertion_list(asserts[sub["id"]]),
            doc_type=dtype["name"],
            doc_type_description=dtype["description"],
        )

    def parse(dtype: Row, text: str, stats: LevelStats) -> list[Row]:
        keys = {a["key"]: a["id"] for a in asserts[dtype["subdomain_id"]]}
        rows = []
        for item, got in json_objects(text, n, stats, "name", "idea"):
            refs = item.get("assertions")
            if not isinstance(refs, list) or not refs or any(r not in keys for r in refs):
                shown = json.dumps(refs, ensure_ascii=False)[:80]
                stats.fail("bad_assertion_refs", example=f"assertions {shown}; known: {sorted(keys)}")
                continue
            iid = stable_id("idea", dtype["subdomain_id"], dtype["id"], got["idea"])
            rows.append(
                {
                    "id": iid,
                    "subdomain_id": dtype["subdomain_id"],
                    "doc_type_id": dtype["id"],
                    "name": got["name"],
                    "idea": got["idea"],
                    "assertion_ids": sorted({keys[r] for r in refs}),
                }
            )
        return rows

    c = ctx.config.counts
    target = c.domains * c.subdomains_per_domain * c.doc_types_per_subdomain * n
    return await runner.level("ideas", type_rows, build, parse, target=target)


async def documents(
    ctx: MsmContext,
    runner: Runner,
    sub_rows: list[Row],
    assertion_rows: list[Row],
    type_rows: list[Row],
    idea_rows: list[Row],
) -> list[Row]:
    subs = {s["id"]: s for s in sub_rows}
    types = {t["id"]: t for t in type_rows}
    asserts = {a["id"]: a for a in assertion_rows}
    sampling = ctx.config.sampling.documents

    def build(idea: Row) -> ChatRequest:
        sub, dtype = subs[idea["subdomain_id"]], types[idea["doc_type_id"]]
        shown = [asserts[a] for a in idea["assertion_ids"]]
        return ctx.request(
            "documents",
            "document",
            sampling,
            subdomain=sub["name"],
            spec_section=sub["spec_section"],
            assertions=assertion_list(shown),
            doc_type=dtype["name"],
            doc_type_description=dtype["description"],
            idea=idea["idea"],
        )

    def parse(idea: Row, text: str, stats: LevelStats) -> list[Row]:
        body = extract_block(text, "content")
        sub, dtype = subs[idea["subdomain_id"]], types[idea["doc_type_id"]]
        return [
            {
                "id": stable_id("document", body),
                "text": body,
                "domain": sub["domain"],
                "domain_id": sub["domain_id"],
                "subdomain": sub["name"],
                "subdomain_id": sub["id"],
                "assertion_ids": idea["assertion_ids"],
                "doc_type": dtype["name"],
                "doc_type_id": dtype["id"],
                "idea": idea["idea"],
                "idea_name": idea["name"],
                "idea_id": idea["id"],
                "prompt_version": ctx.prompts.version,
                "generator_model": runner.client.backend.model,
                "sampling": sampling.model_dump(),
                "spec_variant": ctx.config.variant,
            }
        ]

    return await runner.level("documents", idea_rows, build, parse, target=document_target(ctx), bulk=True)


def document_target(ctx: MsmContext) -> int:
    """Documents the configured counts ask for: one per idea."""
    c = ctx.config.counts
    return c.domains * c.subdomains_per_domain * c.doc_types_per_subdomain * c.ideas_per_doc_type
