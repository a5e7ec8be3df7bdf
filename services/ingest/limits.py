"""Per-user submission rate: a token bucket per user, with the time to wait when it is empty."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """``rate`` submissions per second sustained, ``burst`` at once; one bucket per user.

    In memory, so per ingest process: several replicas would each allow the rate (documented
    limitation until a shared store backs it). The number of buckets is bounded by the number
    of users, because only authenticated users reach it.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst, self._clock = rate, float(burst), clock
        self._buckets: dict[str, _Bucket] = {}

    def try_acquire(self, user: str) -> float:
        """Take one token; 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(user)
        if bucket is None:
            bucket = self._buckets[user] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def refund(self, user: str) -> None:
        """Give back a token for a submission that was not accepted (e.g. broker down)."""
        bucket = self._buckets.get(user)
        if bucket is not None:
            bucket.tokens = min(self._burst, bucket.tokens + 1.0)


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(seconds)))
