"""Approximate API prices, for cost accounting in manifests and the generate ``--preview`` projection.

The built-in table holds list prices per million tokens (USD) of a few well-known models **as of
2025-11**; providers change prices, so treat every figure as an estimate and override it for real budgets
(``ClientConfig.pricing``, or a YAML file read with :func:`load_pricing`). Batch APIs (Anthropic Message
Batches, OpenAI Batch) bill half price: :data:`BATCH_DISCOUNT`.

A model missing from the table has no price: its cost is reported as ``null``, never as zero, so nobody
mistakes an unknown cost for a free run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

PRICES_AS_OF = "2025-11"
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Pricing:
    """USD per million input (prompt) tokens and per million output (completion) tokens."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)

    def cost(self, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        usd = (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000
        return usd * BATCH_DISCOUNT if batch else usd


# Keys are model-name prefixes; the longest matching prefix wins, so dated snapshots
# ("gpt-4o-mini-2024-07-18") find their family and "gpt-4o-mini" is not priced as "gpt-4o".
BUILTIN_PRICES: dict[str, Pricing] = {
    "gpt-4o": Pricing(2.50, 10.00),
    "gpt-4o-mini": Pricing(0.15, 0.60),
    "gpt-4.1": Pricing(2.00, 8.00),
    "gpt-4.1-mini": Pricing(0.40, 1.60),
    "gpt-4.1-nano": Pricing(0.10, 0.40),
    "gpt-5": Pricing(1.25, 10.00),
    "gpt-5-mini": Pricing(0.25, 2.00),
    "gpt-5-nano": Pricing(0.05, 0.40),
    "o3": Pricing(2.00, 8.00),
    "o3-mini": Pricing(1.10, 4.40),
    "o4-mini": Pricing(1.10, 4.40),
    "claude-opus-4": Pricing(15.00, 75.00),
    "claude-opus-4-5": Pricing(5.00, 25.00),
    # Without its own key, claude-opus-4-6 (released after the table's date, at Opus 4.5's list price)
    # would match "claude-opus-4" and be projected at 3x its price.
    "claude-opus-4-6": Pricing(5.00, 25.00),
    "claude-sonnet-4": Pricing(3.00, 15.00),
    "claude-3-7-sonnet": Pricing(3.00, 15.00),
    "claude-3-5-sonnet": Pricing(3.00, 15.00),
    "claude-3-5-haiku": Pricing(0.80, 4.00),
    "claude-haiku-4": Pricing(1.00, 5.00),
}


class PriceFile(BaseModel):
    """A YAML price table: ``prices: {MODEL_OR_PREFIX: {input_per_mtok: X, output_per_mtok: Y}}``."""

    model_config = ConfigDict(extra="forbid")
    prices: dict[str, Pricing]


def load_pricing(path: str | Path) -> dict[str, Pricing]:
    """Read a YAML price table; InputError with file/line/field on a bad entry."""
    from valuesfirst.yamlio import load_model

    return load_model(path, PriceFile).prices


def pricing_for(model: str, overrides: Mapping[str, Pricing] | None = None) -> Pricing | None:
    """The price of ``model`` (a provider prefix like ``openai:`` is ignored): the longest matching key
    of ``overrides`` first, then of the built-in table; None when neither knows the model."""
    name = model.split(":", 1)[1] if ":" in model and not model.startswith(("/", ".")) else model
    for table in (overrides or {}, BUILTIN_PRICES):
        matches = [key for key in table if name == key or name.startswith(key + "-")]
        if matches:
            return table[max(matches, key=len)]
    return None
