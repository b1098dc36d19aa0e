"""Which transport runs a run's bulk levels (``engine.kind`` in the generate config, ``--engine``).

``client`` (the default) is the async client every level uses. ``ray`` sends the bulk levels (MSM
documents, AFT responses) through a Ray Data pipeline (:mod:`valuesfirst.generate.ray_engine`) that
answers through the same cache, parsing and counts; every other level keeps the client. Ray is imported
only when the ray engine is chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from valuesfirst.generate.config import EngineConfig
from valuesfirst.llm.types import ChatRequest, ChatResponse

if TYPE_CHECKING:
    from valuesfirst.llm.client import LLMClient


class BulkEngine(Protocol):
    """Another transport for a level's calls: the contract of :meth:`LLMClient.complete_many`, through
    ``client``'s cache, keys and accounting."""

    async def complete_many(
        self,
        client: LLMClient,
        requests: Sequence[ChatRequest],
        *,
        progress: bool | str,
        usable: Callable[[int, ChatResponse], bool],
        on_result: Callable[[int, ChatResponse], None],
    ) -> list[ChatResponse]: ...

    def usage_report(self) -> dict[str, object]: ...


def check_engine(config: EngineConfig) -> None:
    """InputError (exit 2) now, before any call, when the chosen engine cannot run here."""
    if config.kind == "ray":
        from valuesfirst.generate.ray_engine import require_ray

        require_ray()


@contextmanager
def open_engine(config: EngineConfig, client: LLMClient) -> Iterator[BulkEngine | None]:
    """The bulk engine of a run (None: the client's own transport), closed (its cluster stopped, if it
    started one) when the run ends. A backend the engine cannot serve is an InputError here, before any
    level runs."""
    if config.kind == "client":
        yield None
        return
    from valuesfirst.generate.ray_engine import RayEngine

    engine = RayEngine(config.ray, client.backend, timeout_s=client.timeout_s)
    try:
        yield engine
    finally:
        engine.close()
