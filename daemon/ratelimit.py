"""Token buckets: a rate with a burst of the same size, keyed by whatever is limited (a command, a device).

The number of keys is bounded by the caller (command names from a fixed list), never by what strangers send.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    t: float


class RateLimiter:
    """`allow(key, per_s)`: True and one token spent, or False when `key` is over `per_s` events per second
    (burst `burst_s × per_s`, at least 1)."""

    def __init__(self, burst_s: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self.burst_s = burst_s
        self._now = now
        self._buckets: dict[Hashable, _Bucket] = {}

    def allow(self, key: Hashable, per_s: float) -> bool:
        if per_s <= 0:
            return False
        cap = max(1.0, per_s * self.burst_s)
        now = self._now()
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = _Bucket(cap, now)
        b.tokens = min(cap, b.tokens + (now - b.t) * per_s)
        b.t = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        return False
