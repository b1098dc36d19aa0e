"""Token-bucket rate limits (requests per minute, tokens per minute) for asyncio.

A bucket refills continuously at ``rate`` units per second up to ``capacity`` (the burst). Waiters queue
on one lock, so they are served first come, first served, and none starves behind a stream of small ones.
A request may take more than the bucket holds (a 20k-token prompt under a 10k burst): it waits until the
bucket is full, then drives the level negative, and the debt delays the next callers. The long-run rate
therefore matches the limit even for amounts larger than the burst, and after-the-fact charges
(:meth:`TokenBucket.charge`, for completion tokens known only once the answer arrives) work the same way.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``per_minute`` units per minute, with a burst of ``burst_s`` seconds' worth (at least one unit)."""

    def __init__(self, per_minute: float, *, burst_s: float = 1.0) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self._stamp = time.monotonic()
        self._lock: asyncio.Lock | None = None

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        if self._lock is None:  # bound lazily to the running loop
            self._lock = asyncio.Lock()
        async with self._lock:
            need = min(amount, self.capacity)
            self._refill()
            while self.level < need:
                await asyncio.sleep((need - self.level) / self.rate)
                self._refill()
            self.level -= amount

    def charge(self, amount: float) -> None:
        """Take ``amount`` now without waiting (may go into debt that later acquires pay off)."""
        self._refill()
        self.level -= amount


def estimate_prompt_tokens(chars: int) -> int:
    """Rough token count of a prompt before the provider counts it: ~4 characters per token (English)."""
    return max(1, chars // 4)
