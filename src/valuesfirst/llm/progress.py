"""A rich progress bar for :meth:`LLMClient.complete_many`: calls done, cache hits, failures, tokens, $.

Off by default (library calls stay silent); the CLI turns it on. With progress off the object is a no-op,
so the hot path pays one method call per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from valuesfirst.llm.types import ChatResponse

if TYPE_CHECKING:
    from valuesfirst.llm.client import LLMClient


class CallProgress:
    """Context manager; ``advance(response)`` after each finished request."""

    def __init__(self, client: LLMClient, total: int, progress: bool | str) -> None:
        self._client = client
        self._total = total
        self._enabled = bool(progress)
        self._description = progress if isinstance(progress, str) else "LLM calls"
        self._progress: Any = None
        self._task: Any = None
        self.done = self.cached = self.failed = 0

    def __enter__(self) -> CallProgress:
        if self._enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                # A fresh stderr console, not rich's global one: libraries (inspect-ai) replace that, and
                # progress belongs on stderr so stdout stays clean for piped output.
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total, stats=self._stats())
        return self

    def _stats(self) -> str:
        usage = self._client.usage
        total = usage.total()
        cost = usage.cost_usd()
        money = "$?" if cost is None else f"${cost:.4f}"
        tokens = total.input_tokens + total.output_tokens
        return f"cached {self.cached}  failed {self.failed}  tokens {tokens:,}  {money}"

    def advance(self, response: ChatResponse) -> None:
        self.done += 1
        self.cached += response.cached
        self.failed += response.finish_reason == "error"
        if self._progress is not None:
            self._progress.update(self._task, advance=1, stats=self._stats())

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
