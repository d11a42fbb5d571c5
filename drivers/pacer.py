"""Pacing for many polled devices on one event loop: spread polls over the interval, bound polls in flight.

A daemon polling thousands of miners must not start every poll at the same instant (a burst of connections, then
an idle interval) nor have more connections open than its file limit allows. One `PollPacer` is shared by all
devices of a daemon:

* `phase()` hands each device, in start order, a phase in [0, 1) of its interval from the golden-ratio sequence
  (k * 0.618... mod 1): any number of devices, added at any time, lands evenly spread without knowing N;
* `slot()` is an async context manager around one poll: at most `max_in_flight` polls (each one connection)
  run at once, so the open sockets stay bounded by configuration, not by fleet size.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class PollPacer:
    def __init__(self, max_in_flight: int = 256) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self._sem = asyncio.Semaphore(max_in_flight)
        self._count = 0
        self.in_flight = 0
        self.peak_in_flight = 0

    def phase(self) -> float:
        """The next device's phase as a fraction of its poll interval."""
        k, self._count = self._count, self._count + 1
        return (k * GOLDEN) % 1.0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._sem:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1


def next_deadline(deadline: float, now: float, interval: float) -> float:
    """The next poll time on a device's phase grid after one at `deadline`: one interval on, or, when the poll
    ran late (slow reply, backoff), the first grid point after `now`, so a late device keeps its phase."""
    deadline += interval
    if deadline <= now:
        deadline += math.ceil((now - deadline) / interval + 1e-9) * interval
    return deadline
