"""Several endpoints of one model behind one :class:`~valuesfirst.llm.types.Backend`.

Users who serve one model from many vLLM/SGLang servers give them all (``--base-url A,B,C`` or
``--base-url @FILE``); :func:`~valuesfirst.llm.factory.backend_from_uri` builds one backend per endpoint
and wraps them in :class:`MultiEndpointBackend`, which the client sees as a single backend.

Routing: each attempt goes to the healthy endpoint with the fewest requests in flight, ties broken
round-robin, so a slow server is given less and a fast one more without any weights to tune.

Health: an attempt that fails with a transient error (connection refused, timeout, 429, 5xx, an
unparseable body: whatever ``_errors.map_sdk_error`` calls transient) takes its endpoint out for a
cool-down (``cooldown_base_s`` doubling per consecutive failure up to ``cooldown_max_s``; 1 s to 60 s by
default); after it the endpoint is tried again, and one success puts it back for good. A permanent error
(400, 401, 404 ...) is the request's fault, not the server's: it is passed on and the endpoint stays in.

Failover: the failed attempt is sent at once to another healthy endpoint (each at most once per attempt),
inside the same client attempt, so it spends none of the call's retry budget. Only when every endpoint
tried has failed does the client see an error, the last one, and count it as one failed attempt exactly as
it would for a single failing server. When every endpoint is cooling down, the attempt still goes to the
one due back first: a client attempt never fails without a request made, so when all servers are down the
retries, backoff and deadline behave as they do for one server today.

What never depends on the endpoint: the model name (so cache keys, resume and accounting are the same as
for one server) and the answer's fields. Per-endpoint counts are reported by :meth:`usage_report` and land
in the client's usage summary; URLs there are redacted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from valuesfirst.llm.types import (
    Backend,
    ChatRequest,
    ChatResponse,
    PermanentBackendError,
    TransientBackendError,
)
from valuesfirst.provenance import redact_text

__all__ = ["EndpointStats", "MultiEndpointBackend"]


@dataclass
class EndpointStats:
    """Counts of one endpoint. requests: attempts sent to it; ok: answered; failed: transient failures
    (each one its fault); errors: permanent errors (the request's fault); cooldowns: times taken out."""

    requests: int = 0
    ok: int = 0
    failed: int = 0
    errors: int = 0
    cooldowns: int = 0


@dataclass
class _Endpoint:
    index: int
    url: str
    backend: Backend
    in_flight: int = 0
    down_until: float = 0.0  # monotonic time the cool-down ends; in the past (or 0) when healthy
    streak: int = 0  # consecutive take-outs: the exponent of the next cool-down
    stats: EndpointStats = field(default_factory=EndpointStats)

    def down(self, now: float) -> bool:
        return now < self.down_until

    @property
    def label(self) -> str:
        return f"endpoint {redact_text(self.url)}"


class MultiEndpointBackend:
    """One model served by several ``backends`` (one per endpoint, all naming the same model).

    urls: what each endpoint is called in error messages and the usage report (default: each backend's
        ``base_url``); redacted wherever shown.
    name: the backend kind recorded in manifests (default: the first backend's).
    cooldown_base_s / cooldown_max_s: the first cool-down of a failing endpoint, doubled for each
        consecutive failure, capped at the max.
    clock: monotonic seconds (tests pass a fake one to step through cool-downs deterministically).
    """

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        urls: Sequence[str] | None = None,
        name: str | None = None,
        cooldown_base_s: float = 1.0,
        cooldown_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not backends:
            raise ValueError("MultiEndpointBackend needs at least one backend")
        models = {b.model for b in backends}
        if len(models) != 1:
            # The cache key holds the model name: endpoints of different models would mix their answers.
            raise ValueError(f"all endpoints must serve one model, got {sorted(models)}")
        if urls is None:
            urls = [str(getattr(b, "base_url", None) or f"#{i}") for i, b in enumerate(backends)]
        if len(urls) != len(backends):
            raise ValueError("one url per backend")
        if cooldown_base_s < 0 or cooldown_max_s < cooldown_base_s:
            raise ValueError("need 0 <= cooldown_base_s <= cooldown_max_s")
        self.model = backends[0].model
        self.name = name or backends[0].name
        self.base_urls = tuple(urls)
        self._endpoints = [_Endpoint(i, u, b) for i, (u, b) in enumerate(zip(urls, backends, strict=True))]
        self._cooldown_base_s = cooldown_base_s
        self._cooldown_max_s = cooldown_max_s
        self._clock = clock
        self._cursor = 0  # round-robin position among endpoints tied on load

    def __repr__(self) -> str:
        shown = ", ".join(redact_text(u) for u in self.base_urls)
        return f"MultiEndpointBackend(model={self.model!r}, endpoints=[{shown}])"

    @property
    def backends(self) -> list[Backend]:
        """The endpoints' own backends, in the order given (for transports that route by themselves,
        e.g. the Ray engine, which gives each endpoint its own HTTP processor)."""
        return [ep.backend for ep in self._endpoints]

    @property
    def stats(self) -> list[EndpointStats]:
        """Per-endpoint counts, in the order the endpoints were given."""
        return [ep.stats for ep in self._endpoints]

    async def complete(self, request: ChatRequest) -> ChatResponse:
        tried: set[int] = set()
        last: TransientBackendError | None = None
        while (ep := self._pick(tried)) is not None:
            tried.add(ep.index)
            try:
                return await self._send(ep, request)
            except TransientBackendError as e:
                last = e  # not this request's fault: try the next healthy endpoint in the same attempt
        assert last is not None  # _pick returns an endpoint on the first round
        if len(tried) == 1:
            raise last
        raise TransientBackendError(
            f"all {len(tried)} endpoints tried failed; last: {last}", last.retry_after, kind=last.kind
        ) from last

    def _pick(self, tried: set[int]) -> _Endpoint | None:
        """The least-loaded healthy endpoint not yet tried (round-robin among ties). When none is healthy
        on the first round, the one due back first, so that an attempt always makes a request; None once
        every healthy endpoint has been tried."""
        now = self._clock()
        healthy = [ep for ep in self._endpoints if ep.index not in tried and not ep.down(now)]
        if not healthy:
            if tried:
                return None
            return min(self._endpoints, key=lambda ep: (ep.down_until, ep.in_flight))
        n = len(self._endpoints)
        low = min(ep.in_flight for ep in healthy)
        tied = [ep for ep in healthy if ep.in_flight == low]
        best = min(tied, key=lambda ep: (ep.index - self._cursor) % n)
        self._cursor = (best.index + 1) % n
        return best

    async def _send(self, ep: _Endpoint, request: ChatRequest) -> ChatResponse:
        # What the health record said when this attempt was sent: a failure only takes the endpoint out
        # (or doubles its cool-down) when no other attempt changed the record meanwhile, so a burst of
        # requests in flight on a server that died counts as one take-out, not one per request.
        seen = ep.down_until
        ep.in_flight += 1
        ep.stats.requests += 1
        try:
            resp = await ep.backend.complete(request)
        except TransientBackendError as e:
            ep.stats.failed += 1
            if ep.down_until == seen:
                self._take_out(ep)
            raise TransientBackendError(f"{ep.label}: {e}", e.retry_after, kind=e.kind) from e
        except PermanentBackendError as e:
            ep.stats.errors += 1  # a bad request fails on every server alike: keep the endpoint
            raise PermanentBackendError(f"{ep.label}: {e}", kind=e.kind) from e
        finally:
            ep.in_flight -= 1
        ep.stats.ok += 1
        ep.streak, ep.down_until = 0, 0.0
        return resp

    def _take_out(self, ep: _Endpoint) -> None:
        # The exponent is capped: a server dead for a day is taken out ~1,500 times, and 2.0**1500 overflows.
        delay = min(self._cooldown_max_s, self._cooldown_base_s * 2 ** min(ep.streak, 32))
        ep.streak += 1
        ep.down_until = self._clock() + delay
        ep.stats.cooldowns += 1

    def usage_report(self) -> dict[str, Any]:
        """For the client's usage summary: each endpoint's redacted URL and counts (no secrets)."""
        return {"endpoints": [{"url": redact_text(ep.url), **asdict(ep.stats)} for ep in self._endpoints]}

    async def aclose(self) -> None:
        # Close every endpoint's HTTP client even when one fails to close; then report the first failure.
        closing = (ep.backend.aclose() for ep in self._endpoints)
        results = await asyncio.gather(*closing, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
