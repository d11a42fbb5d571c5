"""One clock for ordering: monotonic nanoseconds, optionally running faster than wall time.

Every component that timestamps or sleeps takes a Clock, so the simulator, the Stratum server and the
reservoir can run an experiment at ``speed`` times real time with consistent timestamps. On a virtual-time
event loop (asicrc.drivers.vtime) the loop's ``VirtualClock`` takes this one's place: simulated time is then
the loop's time, and wall time does not enter at all.
"""

from __future__ import annotations

import asyncio
import time


class Clock:
    """Monotonic clock; ``speed`` > 1 makes simulated time pass faster than wall time."""

    virtual = False  # True for a virtual-time loop's clock (asicrc.drivers.vtime.VirtualClock)

    def __init__(self, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        self.speed = float(speed)
        self._wall0 = time.monotonic_ns()
        self._unix0 = time.time()

    def now_ns(self) -> int:
        if self.speed == 1.0:
            return time.monotonic_ns()
        elapsed = time.monotonic_ns() - self._wall0
        return self._wall0 + int(elapsed * self.speed)

    def now(self) -> float:
        """Seconds (float) on this clock."""
        return self.now_ns() / 1e9

    def unix(self) -> float:
        """Unix seconds on this clock (wall time at creation, then this clock's rate): what a job's ntime says."""
        return self._unix0 + (self.now_ns() - self._wall0) / 1e9

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of this clock's time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def wall_seconds(self, seconds: float) -> float:
        """Wall-clock duration corresponding to `seconds` of clock time."""
        return seconds / self.speed


REAL_TIME = Clock(1.0)
