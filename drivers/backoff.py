"""Capped exponential backoff with jitter, shared by every transport's reconnect loop.

Jitter spreads reconnect attempts of a fleet that lost the same server at the same moment, so they do not all hit it
again in lock-step.
"""

from __future__ import annotations

import random

from .clock import REAL_TIME, Clock


class Backoff:
    """Delay n (0-based) = min(cap, initial * factor**n) scaled by a uniform draw in [1 - jitter, 1]."""

    def __init__(
        self,
        initial_s: float = 0.5,
        cap_s: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if not initial_s > 0:
            raise ValueError(f"backoff initial_s must be > 0, got {initial_s!r}")
        if not cap_s >= initial_s:
            raise ValueError(f"backoff cap_s ({cap_s!r}) must be >= initial_s ({initial_s!r})")
        if not factor >= 1:
            raise ValueError(f"backoff factor must be >= 1, got {factor!r}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"backoff jitter must be in [0, 1], got {jitter!r}")
        self.initial_s = initial_s
        self.cap_s = cap_s
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        # Cap the exponent so factor**n never overflows on a device that stays away for days.
        exp = min(self.attempts, 64)
        base = min(self.cap_s, self.initial_s * self.factor**exp)
        self.attempts += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Call after a success: the next failure starts again from initial_s."""
        self.attempts = 0

    async def sleep(self, clock: Clock = REAL_TIME) -> float:
        """Sleep the next delay on `clock` and return it."""
        delay = self.next_delay()
        await clock.sleep(delay)
        return delay
