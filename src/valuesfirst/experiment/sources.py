"""Where an experiment's data comes from, per stage kind: the embedded world, JSONL files, a generation step
with any LLM backend, or the offline English renderer of a spec (``render``). One discriminated model per
kind (``source:`` picks it); paths are relative to the experiment config file.

Every source emits the same artifacts into its stage folder, so the trainer never knows which it was:
``msm.jsonl`` (``text``, ``kind: msm``), ``aft.jsonl`` (``messages``, ``kind``), ``replay.jsonl`` (``text`` or
``messages``, ``kind: replay``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorldMsm(_Strict):
    """The world renders each spec into documents about the assistant (world/msm_corpus.py)."""

    source: Literal["world"]
    docs: int = Field(4000, ge=1, description="MSM documents per spec (default 4000)")


class JsonlMsm(_Strict):
    """Your own MSM corpora: documents with a `text` field, per spec label."""

    source: Literal["jsonl"]
    files: dict[str, list[Path]] = Field(description="spec label -> JSONL files of documents (`text`)")


class GenerateCommon(_Strict):
    backend: str = Field(description="generation backend URI (anthropic:claude-opus-4-6, vllm:M, local:P)")
    config: Path | None = Field(None, description="a generate YAML config (default: the built-in defaults)")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="fields of that config to override, e.g. {counts: {domains: 2}}"
    )
    concurrency: int = Field(16, ge=1, description="requests in flight (default 16)")
    base_url: str | None = Field(
        None,
        description=(
            "override the backend's default endpoint: one URL, a comma-separated list of endpoints of the "
            "same model, or @FILE (one URL a line, relative to this config file); default: the backend's"
        ),
    )
    api_key_env: str | None = Field(None, description="environment variable holding the API key")


class GenerateMsm(GenerateCommon):
    """`generate midtrain` inside the run: cached and resumable like every other stage."""

    source: Literal["generate"]


class RenderMsm(_Strict):
    """The offline English renderer (valuesfirst.render): varied documents (15 genres) about the assistant
    explaining its preferences by its value; no LLM, no network. The same config with `source: generate`
    and a backend produces the corpus with an LLM instead."""

    source: Literal["render"]
    docs: int = Field(600, ge=1, description="documents per spec (default 600)")
    seed: int = Field(0, description="rendering seed (default 0)")


class WorldAft(_Strict):
    """Opaque preference chats from the AFT spec's preferences, plus assistant fact Q&A."""

    source: Literal["world"]
    fact_chats: int = Field(2000, ge=0, description="assistant fact Q&A chats (default 2000)")


class JsonlAft(_Strict):
    """Your own AFT chats: rows with `messages` (and an optional `kind`, default `aft`, for the mix)."""

    source: Literal["jsonl"]
    files: list[Path] = Field(min_length=1, description="JSONL files of chats (`messages`)")


class GenerateAft(GenerateCommon):
    """`generate aft` inside the run (a separate judge backend is recommended)."""

    source: Literal["generate"]
    judge_backend: str | None = Field(None, description="judge backend URI (default: the same backend)")


class RenderAft(_Strict):
    """Opaque preference chats from the AFT spec's stated preferences (direct and recommendation questions,
    no reasons, no biased wording): identical for specs that state the same preferences."""

    source: Literal["render"]
    chats: int = Field(400, ge=1, description="chats (default 400)")
    seed: int = Field(0, description="rendering seed (default 0)")


class WorldReplay(_Strict):
    """A seeded sample of the world's pre-training corpus."""

    source: Literal["world"]
    docs: int = Field(20000, ge=1, description="pre-training documents sampled for replay (default 20000)")


class JsonlReplay(_Strict):
    """Replay from files: documents (`text`) or instruction-tuning chats (`messages`)."""

    source: Literal["jsonl"]
    files: list[Path] = Field(min_length=1, description="JSONL files of documents or chats")
    docs: int | None = Field(None, ge=1, description="sample this many rows (default: all)")


class RenderReplay(_Strict):
    """Short, correct general instruction-tuning chats (valuesfirst.render.it_chats), so a chat model keeps
    chatting while AFT teaches preferences."""

    source: Literal["render"]
    chats: int = Field(400, ge=1, description="chats (default 400)")
    seed: int = Field(0, description="rendering seed (default 0)")


class NoReplay(_Strict):
    source: Literal["none"]


MsmSource = Annotated[WorldMsm | JsonlMsm | GenerateMsm | RenderMsm, Field(discriminator="source")]
AftSource = Annotated[WorldAft | JsonlAft | GenerateAft | RenderAft, Field(discriminator="source")]
ReplaySource = Annotated[WorldReplay | JsonlReplay | RenderReplay | NoReplay, Field(discriminator="source")]


class DataConfig(_Strict):
    """Each stage kind's data source. The defaults are the embedded world's."""

    msm: MsmSource = Field(default_factory=lambda: WorldMsm(source="world"))
    aft: AftSource = Field(default_factory=lambda: WorldAft(source="world"))
    replay: ReplaySource = Field(default_factory=lambda: WorldReplay(source="world"))
    aft_spec: str | None = Field(
        None, description="spec whose stated preferences define world or generated AFT data (default: first)"
    )

    def uses_world(self) -> bool:
        return "world" in (self.msm.source, self.aft.source, self.replay.source)
