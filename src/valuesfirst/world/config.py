"""Typed configuration of the embedded world (sizes, seeds, corpus mix)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from valuesfirst.world.lexicon import DOMAINS, VALUES


class CorpusMix(BaseModel):
    """Shares of the pre-training corpus by document count. They are normalised, so only ratios matter."""

    model_config = ConfigDict(extra="forbid")

    facts: float = Field(0.10, ge=0, description="encyclopedic item facts (default 0.10)")
    fact_chats: float = Field(
        0.08, ge=0, description="chat Q&A about item facts; the only place the assistant speaks"
    )
    bios: float = Field(0.22, ge=0, description="persona bios with value sentences and explanations")
    genre: float = Field(0.10, ge=0, description="memos, FAQs, forum posts, essays, stories about personas")
    choice_chats: float = Field(0.42, ge=0, description="opaque choice chats in which personas pick items")
    prose_choices: float = Field(0.08, ge=0, description="third-person choices with reasons")

    @model_validator(mode="after")
    def _positive(self) -> CorpusMix:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one corpus share must be positive")
        return self


class WorldConfig(BaseModel):
    """The embedded synthetic world. Every artifact is a deterministic function of this config."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="seed for names, attributes and personas (default 0)")
    domains: list[str] = Field(
        default_factory=lambda: list(DOMAINS[:12]),
        description="item domains; the first is not special, see training_domain",
    )
    training_domain: str = Field("cheese", description="the only domain MSM and AFT data mention")
    items_per_cell: int = Field(3, ge=1, description="items per combination of the 3 binary attributes (x8)")
    personas_full: int = Field(28, ge=1, description="per value: bios, genre docs and chats in all domains")
    personas_bio_only: int = Field(
        4, ge=1, description="per value: bio and training-domain docs only, no chats"
    )
    personas_chat_only: int = Field(4, ge=0, description="per value: training-domain chats only, no bio")
    personas_no_value: int = Field(48, ge=2, description="personas without a value who choose at random")
    confound: bool = Field(
        True,
        description=(
            "valued personas also like items of one incidental pole in their genre documents, while the "
            "explanation cites only the value: teaches 'generalize by the stated reason'"
        ),
    )
    corpus_docs: int = Field(360_000, ge=100, description="pre-training documents to generate")
    mix: CorpusMix = Field(default_factory=CorpusMix)
    # Fixed: the chat template's generation prompt ("assistant :") and the AFT chats' role are the same token.
    assistant_name: Literal["assistant"] = Field(
        "assistant", description="the chat role of the model under training"
    )
    values: list[str] = Field(default_factory=lambda: list(VALUES), description="values personas can hold")

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        unknown = [d for d in self.domains if d not in DOMAINS]
        if unknown:
            raise ValueError(f"unknown domains {unknown}; known: {list(DOMAINS)}")
        if self.training_domain not in self.domains:
            raise ValueError(f"training_domain {self.training_domain!r} is not in domains")
        if len(self.domains) < 2:
            raise ValueError("need at least one held-out domain besides the training domain")
        bad = [v for v in self.values if v not in VALUES]
        if bad:
            raise ValueError(f"unknown values {bad}; known: {list(VALUES)}")
        return self

    @property
    def held_out_domains(self) -> list[str]:
        return [d for d in self.domains if d != self.training_domain]
