"""Token buckets: per API key, and per client address (keyless requests, failed logins).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per
second; each request takes one. An empty bucket answers how long until the
next token, which becomes the ``Retry-After`` header (whole seconds, >= 1).
``rate == 0`` turns limiting off (benchmarks).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    """One bucket: ``take(now)`` returns 0.0 when allowed, else seconds to wait."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens if there are; otherwise the seconds until there are."""
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """Buckets by key, created on first use; idle full buckets are dropped.

    Args:
        rate: tokens per second; 0 (or less) disables limiting.
        burst: bucket size (at least 1).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._last_sweep = clock()

    @property
    def enabled(self) -> bool:
        """Whether requests are limited at all."""
        return self.rate > 0

    def check(self, key: str, cost: float = 1.0) -> int | None:
        """Take ``cost`` tokens (at most the burst) for ``key``.

        Returns:
            None when allowed (the tokens are taken), else the Retry-After
            seconds (>= 1) and nothing is taken.
        """
        if self.rate <= 0:
            return None
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(now, min(cost, self.burst))
        if now - self._last_sweep > 60.0:
            self._sweep(now)
        if wait <= 0.0:
            return None
        return max(1, math.ceil(wait))

    def peek(self, key: str) -> int | None:
        """Whether ``key`` has a token left: None if so, else Retry-After seconds; takes none."""
        if self.rate <= 0:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        now = self._clock()
        tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.updated) * self.rate)
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _sweep(self, now: float) -> None:
        # A bucket that would be full again carries no state worth keeping.
        full_after = self.burst / self.rate
        self._buckets = {
            k: b for k, b in self._buckets.items() if now - b.updated < full_after
        }
        self._last_sweep = now
