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
import collections
import math

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class PollPacer:
    def __init__(self, max_in_flight: int = 256) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.max_in_flight = max_in_flight
        self._free = max_in_flight
        # FIFO of polls waiting for a slot. Not asyncio.Semaphore: on 3.11 each wake-up scans its waiter deque
        # and each woken waiter removes itself from it, O(waiters) per poll; with thousands of devices queued
        # at start-up or after a stall that was quadratic. Here a release hands its slot to the next waiter.
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._count = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._slot = _Slot(self)

    def phase(self) -> float:
        """The next device's phase as a fraction of its poll interval."""
        k, self._count = self._count, self._count + 1
        return (k * GOLDEN) % 1.0

    def slot(self) -> _Slot:
        return self._slot

    @property
    def waiting(self) -> int:
        return sum(1 for fut in self._waiters if not fut.done())

    async def _enter(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._release()  # handed a slot just as the poll was cancelled: pass it on
                raise
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    def _exit(self) -> None:
        self.in_flight -= 1
        self._release()

    def _release(self) -> None:
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():  # a cancelled waiter is skipped here
                fut.set_result(None)
                return
        self._free += 1


class _Slot:
    """`async with pacer.slot():` without a generator-based context manager per poll (a fleet makes a thousand
    polls a second): one shared, stateless object."""

    __slots__ = ("_pacer",)

    def __init__(self, pacer: PollPacer) -> None:
        self._pacer = pacer

    async def __aenter__(self) -> None:
        await self._pacer._enter()

    async def __aexit__(self, *exc: object) -> None:
        self._pacer._exit()


def next_deadline(deadline: float, now: float, interval: float) -> float:
    """The next poll time on a device's phase grid after one at `deadline`: one interval on, or, when the poll
    ran late (slow reply, backoff), the first grid point after `now`, so a late device keeps its phase."""
    deadline += interval
    if deadline <= now:
        deadline += math.ceil((now - deadline) / interval + 1e-9) * interval
    return deadline
