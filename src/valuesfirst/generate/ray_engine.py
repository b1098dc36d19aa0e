"""``engine.kind: ray``: a level's calls as a Ray Data pipeline, through the run's own cache and counts.

Ray is an optional extra (``pip install 'valuesfirst[ray]'``), imported here only, when a run chooses
this engine; its cluster is joined or started only when a bulk level has calls to make (a rerun of a
finished run starts none).

Flow, as :func:`valuesfirst.llm.batch.complete_via_batch` for provider batches: usable cached answers are
served from the disk cache; the other requests (one per cache key) become a Ray dataset, one processor per
endpoint (HTTP) or one engine processor (vLLM / SGLang). Each answer is written to the cache as it comes
back, so a run killed at any moment resumes without paying twice, whichever engine the rerun uses. Answers
are converted exactly as the async client converts them (``chat_response``), so on deterministic servers
the corpus is byte-identical to a single-client run.

Failures, in rounds (at most the client's ``max_retries`` + 1, with its backoff between them): Ray's HTTP
stage retries a 429/5xx/dropped request ``http_retries`` times, then fails its whole batch. Failed batches
are skipped (``max_errored_blocks=-1``) so the rest of the job goes on; their requests are missing from the
output and go into the next round, which leaves out the endpoints that lost rows (unless every endpoint
did): a server killed mid-run costs a round, not the run. An error body (a 400, a 500 passed on as data)
is transient or permanent as its status says (``error_from_body``); permanent errors and requests still
failing after the last round come back as ``finish_reason="error"`` answers, which the level excludes and
counts, and nothing failed is cached.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from valuesfirst.errors import InputError
from valuesfirst.generate.config import RayEngineConfig
from valuesfirst.generate.ray_processors import EngineTarget, HttpTarget, ship_by_value
from valuesfirst.llm.progress import CallProgress
from valuesfirst.llm.types import (
    Backend,
    BackendError,
    ChatRequest,
    ChatResponse,
    PermanentBackendError,
    TransientBackendError,
)
from valuesfirst.provenance import redact_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from valuesfirst.llm.client import LLMClient

INSTALL_HINT = "pip install 'valuesfirst[ray]'"
Target = HttpTarget | EngineTarget


def require_ray() -> None:
    """InputError (exit 2, before any call) unless Ray Data's LLM processors can be imported."""
    try:
        import ray  # noqa: F401
        from ray.data import llm  # noqa: F401
    except ImportError as exc:
        raise InputError.single(
            f"--engine ray needs Ray Data, which is not installed ({exc.msg}); install it with: "
            f"{INSTALL_HINT}",
            field="engine.kind",
        ) from None


def targets_for(cfg: RayEngineConfig, backend: Backend) -> list[Target]:
    """The processors' targets: one per endpoint of ``backend`` (HTTP), or the engine itself."""
    from valuesfirst.llm.endpoints import MultiEndpointBackend
    from valuesfirst.llm.openai_compat import OpenAICompatBackend

    if cfg.processor != "http":
        return [EngineTarget(cfg.processor, backend.model, cfg.model_source or backend.model)]
    backends = backend.backends if isinstance(backend, MultiEndpointBackend) else [backend]
    if not all(isinstance(b, OpenAICompatBackend) for b in backends):
        raise InputError.single(
            f"--engine ray with engine.ray.processor http sends OpenAI-compatible requests; backend "
            f"{backend.name!r} is not (use vllm:, sglang:, openai:, together: or ollama:, or "
            "engine.ray.processor vllm or sglang)",
            field="engine.ray.processor",
        )
    return [HttpTarget(b) for b in backends if isinstance(b, OpenAICompatBackend)]


@dataclass
class TargetStats:
    """Per target: rows sent, answered, lost with a failed Ray task, and error answers."""

    requests: int = 0
    answered: int = 0
    lost: int = 0
    errors: int = 0


@dataclass
class _Level:
    """One complete_many: the uncached requests by key and what became of them."""

    requests: dict[str, ChatRequest]
    leaders: dict[str, int]  # key -> first request index (its ``usable`` decides the caching)
    followers: dict[str, list[int]] = field(default_factory=dict)  # later indices with the same key
    last_error: dict[str, BackendError] = field(default_factory=dict)


class RayEngine:
    """The Ray engine of one run. ``timeout_s``: the async client's attempt limit, given to HTTP workers."""

    def __init__(self, cfg: RayEngineConfig, backend: Backend, *, timeout_s: float | None = None) -> None:
        require_ray()
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.targets = targets_for(cfg, backend)
        self.stats = [TargetStats() for _ in self.targets]
        self.rounds = 0
        self._lost: dict[int, bool] = {}  # per target: lost rows in the last round it was sent any
        self._started = False  # whether this engine started the cluster (and so stops it)

    # -- cluster -----------------------------------------------------------------------------------
    def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            # Usage statistics would be sent to Ray's servers; opt in by setting the variable yourself.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # The level's own bar says what runs; Ray's INFO lines (cluster start, execution plans, "progress
            # bars disabled") would interleave with it. They stay in Ray's session logs
            # (/tmp/ray/session_*/logs); warnings and errors still print.
            logging.getLogger("ray").setLevel(logging.WARNING)
            logging.getLogger("ray.data").setLevel(logging.ERROR)
            if self.cfg.address or os.environ.get("RAY_ADDRESS"):
                ray.init(address=self.cfg.address, logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=self.cfg.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
            self._started = True
        ship_by_value()
        return ray

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def usage_report(self) -> dict[str, Any]:
        """For the manifest: the processor, rounds run and each target's counts (URLs redacted)."""
        rows = [{"target": t.label, **vars(s)} for t, s in zip(self.targets, self.stats, strict=True)]
        return {"kind": "ray", "processor": self.cfg.processor, "rounds": self.rounds, "targets": rows}

    # -- one level ---------------------------------------------------------------------------------
    async def complete_many(
        self,
        client: LLMClient,
        requests: Sequence[ChatRequest],
        *,
        progress: bool | str = False,
        usable: Callable[[int, ChatResponse], bool],
        on_result: Callable[[int, ChatResponse], None],
    ) -> list[ChatResponse]:
        """Answers in request order, as :meth:`LLMClient.complete_many` gives them: ``usable(i, r)``
        decides what is cached, ``on_result(i, r)`` sees each final answer (and may raise to stop)."""
        model = client.backend.model
        out: list[ChatResponse | None] = [None] * len(requests)
        with CallProgress(client, len(requests), progress) as bar:

            def final(i: int, resp: ChatResponse, counter: str | None) -> None:
                usage = client.usage.stage(requests[i].stage)
                usage.calls += 1
                if counter is not None:
                    setattr(usage, counter, getattr(usage, counter) + 1)
                out[i] = resp
                bar.advance(resp)
                on_result(i, resp)

            level = _Level({}, {})
            for i, request in enumerate(requests):
                key = request.cache_key(model)
                hit = client.cache.get(key) if client.cache is not None else None
                if hit is not None and usable(i, hit):
                    final(i, hit, "cached")
                elif key in level.leaders:
                    level.followers.setdefault(key, []).append(i)
                else:
                    level.leaders[key] = i
                    level.requests[key] = request

            def settle(key: str, resp: ChatResponse) -> None:
                """The final answer of ``key``: its leader's, shared by the same request asked again."""
                del level.requests[key]
                leader = level.leaders[key]
                failed = resp.finish_reason == "error"
                final(leader, resp, "failed" if failed else None)
                for i in level.followers.get(key, []):
                    final(i, resp if failed else _as_cached(resp), "shared")

            def answered(key: str, resp: ChatResponse) -> None:
                i = level.leaders[key]
                usage = client.usage.stage(requests[i].stage)
                settle(key, client.record(usage, key, resp, usable=lambda r: usable(i, r)))

            def failed(key: str, error: BackendError) -> None:
                if isinstance(error, PermanentBackendError):
                    settle(key, _error_response(model, str(error), error.kind))
                else:
                    level.last_error[key] = error

            attempt = 0
            self._lost = {}  # every endpoint starts a level in: a new pipeline, new connections
            if level.requests:
                self._ray()  # on the main thread: Ray installs its signal handlers only there
            while level.requests and attempt <= client.config.max_retries:
                if attempt:
                    for key in level.requests:
                        client.usage.stage(level.requests[key].stage).retries += 1
                    await asyncio.sleep(client.backoff_delay(attempt - 1, None))
                # Ray's iterator blocks: the round runs in a thread, the event loop stays free. When the
                # level is cancelled (Ctrl-C), the thread stops at the next row instead of finishing.
                stop = threading.Event()
                try:
                    await asyncio.to_thread(self._round, dict(level.requests), answered, failed, stop)
                except asyncio.CancelledError:
                    stop.set()
                    raise
                attempt += 1
            for key in list(level.requests):
                error = level.last_error.get(key) or TransientBackendError("no answer", kind="ray_missing")
                message = f"gave up after {attempt} Ray rounds: {error}"
                settle(key, _error_response(model, message, error.kind))
        assert all(resp is not None for resp in out)
        return [resp for resp in out if resp is not None]

    def _round(
        self,
        todo: dict[str, ChatRequest],
        answered: Callable[[str, ChatResponse], None],
        failed: Callable[[str, BackendError], None],
        stop: threading.Event,
    ) -> None:
        """One pass of ``todo`` through the pipeline (run in a worker thread)."""
        ray = self._ray()
        self.rounds += 1
        shards = self._shards(list(todo))
        index_of = {key: t for t, keys in shards.items() for key in keys}
        with _data_context(ray):
            datasets = []
            for t, keys in shards.items():
                target = self.targets[t]
                rows = [target.row(key, todo[key]) for key in keys]
                blocks = math.ceil(len(rows) / self.cfg.batch_size)  # one batch per task: they run at once
                ds = ray.data.from_items(rows, override_num_blocks=blocks)
                datasets.append(target.processor(self.cfg, self.timeout_s, tasks=blocks)(ds))
                self.stats[t].requests += len(rows)
            pipeline = datasets[0].union(*datasets[1:]) if len(datasets) > 1 else datasets[0]
            seen: set[str] = set()
            rows_out = iter(pipeline.iter_rows())
            try:
                for row in rows_out:
                    if stop.is_set():
                        return
                    key = str(row["key"])
                    if key in seen or key not in todo:
                        continue  # Ray may run a task again after a worker failure: the first answer counts
                    seen.add(key)
                    t = index_of[key]
                    try:
                        resp = self.targets[t].answer(row, todo[key])
                    except BackendError as error:
                        self.stats[t].errors += 1
                        failed(key, error)
                        continue
                    self.stats[t].answered += 1
                    answered(key, resp)  # may raise (the level stops): the job is shut down below
            finally:
                close = getattr(rows_out, "close", None)
                if close is not None:
                    close()
        lost_by: dict[int, int] = {}
        for key in todo.keys() - seen:
            t = index_of[key]
            lost_by[t] = lost_by.get(t, 0) + 1
            message = f"{self.targets[t].label}: the Ray task carrying it failed (see the Ray logs)"
            failed(key, TransientBackendError(message, kind="ray_task_failed"))
        for t, n in lost_by.items():
            self.stats[t].lost += n
        self._lost.update({t: t in lost_by for t in shards})

    def _shards(self, keys: list[str]) -> dict[int, list[str]]:
        """Keys per target, round-robin over the targets that lost no rows in the last round they were
        sent any (all of them when every one did: then the round is a retry, as the client retries one
        failing server)."""
        every = list(range(len(self.targets)))
        live = [t for t in every if not self._lost.get(t)] or every
        shards: dict[int, list[str]] = {t: [] for t in live}
        for n, key in enumerate(keys):
            shards[live[n % len(live)]].append(key)
        return {t: keys for t, keys in shards.items() if keys}


@contextmanager
def _data_context(ray: Any) -> Iterator[None]:
    """Ray Data settings for one round, restored after it (the context is the process's): a failed
    batch is skipped rather than failing the job (its requests go to the next round), and Ray's own
    progress bars are off (the level's bar counts answers)."""
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.max_errored_blocks, ctx.enable_progress_bars)
    ctx.max_errored_blocks, ctx.enable_progress_bars = -1, False
    try:
        yield
    finally:
        ctx.max_errored_blocks, ctx.enable_progress_bars = saved


def _as_cached(resp: ChatResponse) -> ChatResponse:
    import dataclasses

    return dataclasses.replace(resp, cached=True)


def _error_response(model: str, message: str, kind: str) -> ChatResponse:
    return ChatResponse(
        text="", finish_reason="error", model=model, error=redact_text(message), error_kind=kind
    )
