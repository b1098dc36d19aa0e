"""``--preview``: project calls, items, tokens and cost before anything is spent. Makes no backend call.

How tokens are estimated (shown under the table): a call's input is its system prompt and template plus
a per-level allowance for the upstream context it carries (spec section, assertions, query, response),
at 4 characters per token; its output is ``preview_output_fraction`` of its ``max_tokens``. AFT projects
the first round only (backfill rounds depend on how many samples the judge excludes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

from valuesfirst.generate.config import AftGenConfig, MidtrainGenConfig, Sampling
from valuesfirst.generate.templates import PromptSet
from valuesfirst.spec import Spec

CHARS_PER_TOKEN = 4
SECTION_CHARS = 600  # a verbatim spec section, name and context
ASSERTION_CHARS = 120  # one listed assertion
EXCHANGE_CHARS = 1500  # query + thinking + response shown to the judge


@dataclass(frozen=True)
class LevelProjection:
    level: str
    calls: int
    items: int
    input_tokens: int
    output_tokens: int


def _tok(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _level(name: str, calls: int, items: int, in_chars: int, s: Sampling, fraction: float) -> LevelProjection:
    return LevelProjection(
        name, calls, items, calls * _tok(in_chars), calls * math.ceil(s.max_tokens * fraction)
    )


def project_midtrain(config: MidtrainGenConfig, prompts: PromptSet, spec_text: str) -> list[LevelProjection]:
    c, s, f = config.counts, config.sampling, config.preview_output_fraction
    system = len(prompts.texts["system"]) + len(spec_text)
    subs = c.domains * c.subdomains_per_domain
    types = subs * c.doc_types_per_subdomain
    ideas = types * c.ideas_per_doc_type
    listed = c.assertions_per_subdomain * ASSERTION_CHARS

    def t(name: str) -> int:
        return system + len(prompts.texts[name])

    return [
        _level("domains", 1, c.domains, t("domains"), s.domains, f),
        _level("subdomains", c.domains, subs, t("subdomains"), s.subdomains, f),
        _level(
            "assertions",
            subs,
            subs * c.assertions_per_subdomain,
            t("assertions") + SECTION_CHARS,
            s.assertions,
            f,
        ),
        _level("doc_types", subs, types, t("doc_types") + SECTION_CHARS, s.doc_types, f),
        _level("ideas", types, ideas, t("ideas") + SECTION_CHARS + listed, s.ideas, f),
        _level(
            "documents", ideas, ideas, t("document") + SECTION_CHARS + 2 * ASSERTION_CHARS, s.documents, f
        ),
    ]


def project_aft(
    config: AftGenConfig, prompts: PromptSet, spec: Spec, spec_text: str
) -> list[LevelProjection]:
    s, f = config.sampling, config.preview_output_fraction
    system = len(prompts.texts["system"]) + len(spec_text)
    out = []
    opaque = config.opaque_preferences
    if opaque is None:
        out.append(
            _level("domains", 1, config.n_domains, system + len(prompts.texts["domains"]), s.domains, f)
        )
        n_domains, types, per = config.n_domains, len(config.query_types), config.queries_per_type
        qt, rt, jt = "queries", f"response_{config.style}", f"judge_{config.style}"
    else:
        n_domains = sum(len(p.likes) + len(p.dislikes) for _, p in spec.preference_blocks())
        types, per = len(opaque.query_types), opaque.queries_per_item_type
        qt, rt, jt = "opaque_queries", "response_opaque", "judge_opaque"
    calls = n_domains * types
    out.append(_level("queries", calls, calls * per, system + len(prompts.texts[qt]), s.queries, f))
    answered = math.ceil(config.n_samples * config.oversample)
    out.append(
        _level("responses", answered, answered, len(prompts.texts[rt]) + len(spec_text) + 200, s.responses, f)
    )
    out.append(
        _level(
            "judge",
            answered,
            config.n_samples,
            len(prompts.texts[jt]) + len(spec_text) + EXCHANGE_CHARS,
            s.judge,
            f,
        )
    )
    return out


def summarize(levels: list[LevelProjection], model: str) -> dict[str, Any]:
    """Totals and cost (None when the model has no known price)."""
    from valuesfirst.llm.pricing import pricing_for

    pricing = pricing_for(model)
    total_in = sum(p.input_tokens for p in levels)
    total_out = sum(p.output_tokens for p in levels)
    rows = []
    for p in levels:
        cost = None if pricing is None else pricing.cost(p.input_tokens, p.output_tokens)
        rows.append({**p.__dict__, "cost_usd": cost})
    return {
        "model": model,
        "levels": rows,
        "calls": sum(p.calls for p in levels),
        "input_tokens": total_in,
        "output_tokens": total_out,
        "cost_usd": None if pricing is None else pricing.cost(total_in, total_out),
        "priced": pricing is not None,
    }


def preview_table(summary: dict[str, Any], items_label: str, note: str) -> Table:
    """The projection as a rich table; the command prints it on its console."""
    from rich.table import Table

    def money(v: float | None) -> str:
        return "unknown" if v is None else f"${v:,.2f}"

    table = Table(title=f"Projected generation with {summary['model']} (no call made)", caption=note)
    for col in ("level", "calls", items_label, "input tokens", "output tokens", "cost"):
        table.add_column(col, justify="left" if col == "level" else "right")
    for r in summary["levels"]:
        table.add_row(
            r["level"],
            f"{r['calls']:,}",
            f"{r['items']:,}",
            f"{r['input_tokens']:,}",
            f"{r['output_tokens']:,}",
            money(r["cost_usd"]),
        )
    table.add_row(
        "total",
        f"{summary['calls']:,}",
        "",
        f"{summary['input_tokens']:,}",
        f"{summary['output_tokens']:,}",
        money(summary["cost_usd"]),
        style="bold",
    )
    return table


ESTIMATE_NOTE = (
    "Tokens are estimates: input = system prompt + template + per-level context allowance at 4 chars/token; "
    "output = preview_output_fraction x max_tokens. Cost uses approximate list prices (unknown if unpriced)."
)
