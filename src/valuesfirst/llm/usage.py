"""Per-stage call accounting: calls, cache hits, shared answers, failures, retries, tokens and cost.

Cost is computed from tokens at report time with the client's :class:`~valuesfirst.llm.pricing.Pricing`;
tokens answered through a provider batch are kept apart because they bill at half price. An unknown price
gives ``cost_usd: null`` (never 0): an unknown cost must not read as a free run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from valuesfirst.llm.pricing import Pricing


@dataclass
class StageUsage:
    calls: int = 0
    cached: int = 0
    shared: int = 0  # answered by an identical request in flight at the same time: not sent, not paid
    failed: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    batch_input_tokens: int = 0  # the part of input_tokens billed at the batch discount
    batch_output_tokens: int = 0

    def cost(self, pricing: Pricing | None) -> float | None:
        if pricing is None:
            return None
        sync_in = self.input_tokens - self.batch_input_tokens
        sync_out = self.output_tokens - self.batch_output_tokens
        return pricing.cost(sync_in, sync_out) + pricing.cost(
            self.batch_input_tokens, self.batch_output_tokens, batch=True
        )

    def add(self, other: StageUsage) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class Usage:
    """Accounting for one client. ``model``/``pricing`` are set by the client that owns it."""

    by_stage: dict[str, StageUsage] = field(default_factory=dict)
    model: str | None = None
    pricing: Pricing | None = None
    pricing_source: str | None = None  # "config" or "built-in table as of YYYY-MM"

    def stage(self, name: str) -> StageUsage:
        return self.by_stage.setdefault(name, StageUsage())

    def total(self) -> StageUsage:
        out = StageUsage()
        for stage in self.by_stage.values():
            out.add(stage)
        return out

    def cost_usd(self) -> float | None:
        return self.total().cost(self.pricing)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary for manifests: per stage and in total, with cost in USD (null if unpriced).

        Holds no request content and no credentials: only counts, the model name and its price.
        """

        def row(s: StageUsage) -> dict[str, Any]:
            cost = s.cost(self.pricing)
            return {**asdict(s), "cost_usd": None if cost is None else round(cost, 9)}

        return {
            "model": self.model,
            "pricing": None
            if self.pricing is None
            else {**asdict(self.pricing), "source": self.pricing_source, "approximate": True},
            "stages": {name: row(s) for name, s in sorted(self.by_stage.items())},
            "total": row(self.total()),
        }
