"""MSM levels 1-3: spec -> domains -> subdomains (with verbatim spec sections) -> character assertions.

Every level parses strictly (see parsing.py) and counts what it could not use. Items beyond the count
asked for are dropped (``extra``), so the configured counts bound the corpus size that --preview projects.
"""

from __future__ import annotations

from dataclasses import dataclass

from valuesfirst.generate.config import MidtrainGenConfig, Sampling
from valuesfirst.generate.levels import LevelStats, Row, Runner, json_objects
from valuesfirst.generate.parsing import normalize_ws, stable_id
from valuesfirst.generate.templates import PromptSet
from valuesfirst.llm.types import ChatRequest, SamplingParams

LABELS = {
    "value": "value",
    "belief": "belief",
    "behaviour": "behaviour",
    "behavior": "behaviour",
    "preference": "preference",
    "tone": "tone",
}
"""Accepted assertion labels; the American spelling is normalised."""


def params(sampling: Sampling) -> SamplingParams:
    return SamplingParams(
        temperature=sampling.temperature, max_tokens=sampling.max_tokens, top_p=sampling.top_p
    )


@dataclass(frozen=True)
class MsmContext:
    """What every MSM level needs: the config, the prompts, the rendered spec and the system prompt."""

    config: MidtrainGenConfig
    prompts: PromptSet
    spec_text: str
    name: str
    developer: str

    @property
    def system(self) -> str:
        return self.prompts.render(
            "system", spec=self.spec_text.strip(), name=self.name, developer=self.developer
        )

    def request(self, level: str, template: str, sampling: Sampling, **fields: object) -> ChatRequest:
        user = self.prompts.render(template, name=self.name, developer=self.developer, **fields)
        return ChatRequest.of(user, system=self.system, params=params(sampling), stage=f"msm.{level}")


async def domains(ctx: MsmContext, runner: Runner) -> list[Row]:
    n = ctx.config.counts.domains

    def build(_: int) -> ChatRequest:
        return ctx.request("domains", "domains", ctx.config.sampling.domains, n=n)

    def parse(_: int, text: str, stats: LevelStats) -> list[Row]:
        objects = json_objects(text, n, stats, "name", "description")
        return [{"id": stable_id("domain", got["name"], got["description"]), **got} for _, got in objects]

    return await runner.level("domains", [0], build, parse, target=n)


async def subdomains(ctx: MsmContext, runner: Runner, domain_rows: list[Row]) -> list[Row]:
    n = ctx.config.counts.subdomains_per_domain
    spec_norm = normalize_ws(ctx.spec_text)

    def build(domain: Row) -> ChatRequest:
        return ctx.request(
            "subdomains",
            "subdomains",
            ctx.config.sampling.subdomains,
            n=n,
            domain=domain["name"],
            description=domain["description"],
        )

    def parse(domain: Row, text: str, stats: LevelStats) -> list[Row]:
        rows = []
        for _, got in json_objects(text, n, stats, "name", "context", "spec_section"):
            # The section is the document writer's anchor in the spec: a paraphrase could smuggle in
            # values the spec does not hold, so only verbatim text (up to whitespace) is accepted.
            if normalize_ws(got["spec_section"]) not in spec_norm:
                stats.fail("section_not_verbatim", example=f"not in the spec: {got['spec_section'][:160]}")
                continue
            sid = stable_id("subdomain", domain["id"], got["name"], got["context"], got["spec_section"])
            rows.append({"id": sid, "domain_id": domain["id"], "domain": domain["name"], **got})
        return rows

    target = ctx.config.counts.domains * n
    return await runner.level("subdomains", domain_rows, build, parse, target=target)


async def assertions(ctx: MsmContext, runner: Runner, sub_rows: list[Row]) -> list[Row]:
    n = ctx.config.counts.assertions_per_subdomain

    def build(sub: Row) -> ChatRequest:
        return ctx.request(
            "assertions",
            "assertions",
            ctx.config.sampling.assertions,
            n=n,
            domain=sub["domain"],
            subdomain=sub["name"],
            context=sub["context"],
            spec_section=sub["spec_section"],
        )

    def parse(sub: Row, text: str, stats: LevelStats) -> list[Row]:
        rows = []
        for _, got in json_objects(text, n, stats, "label", "name", "assertion", "explanation"):
            label = LABELS.get(got["label"].lower())
            if label is None:
                stats.fail(
                    "bad_label",
                    example=f"label {got['label'][:40]!r} is not one of {sorted(set(LABELS.values()))}",
                )
                continue
            got["label"] = label
            aid = stable_id("assertion", sub["id"], label, got["assertion"])
            rows.append({"id": aid, "subdomain_id": sub["id"], **got})
        # Keys A1, A2 … are what the idea prompt shows; they are per subdomain and in output order.
        for index, row in enumerate(rows, start=1):
            row["key"] = f"A{index}"
        return rows

    target = ctx.config.counts.domains * ctx.config.counts.subdomains_per_domain * n
    return await runner.level("assertions", sub_rows, build, parse, target=target)
