"""The one event schema and the in-process fan-out every producer publishes on.

Producers (Stratum server, serial readers, API pollers, simulator) call ``FanOut.publish`` which never
blocks and never raises because of a slow consumer: each subscriber has a bounded queue and a drop counter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

POLL_DURATION_KEY = "poll_duration_s"


class Source(StrEnum):
    STRATUM = "stratum"
    SERIAL = "serial"
    HTTP = "http"
    RPC = "rpc"
    SIM = "sim"


class Kind(StrEnum):
    SHARE = "share"  # a Stratum submit (accepted or not)
    NONCE = "nonce"  # a nonce frame from a serial chip
    TELEMETRY = "telemetry"  # sensor readings in SI units
    FAULT = "fault"  # something went wrong (disconnect, HTTP 500, bad CRC burst, envelope refusal)
    STATE = "state"  # device lifecycle: online/offline/restarting/identity


@dataclass(slots=True, frozen=True)
class Event:
    """One thing a device said.

    t_ns: monotonic ns on the producing Clock, taken where the bytes arrived.
    data keys by kind (SI units, names carry the unit):
      share:     job_id:str, assigned_diff:float, achieved_diff:float, nonce:int, version_bits:int,
                 verdict:str ("accepted" or a reason such as "low-difficulty"), error_code:int|None,
                 worker:str, connection:int
      nonce:     nonce:int, job_id:int, chip:int, core:int, version_bits:int, achieved_diff:float
      telemetry: any of hashrate_hs, temp_chip_c, temp_board_c, power_w, fan_rpm, frequency_hz,
                 core_voltage_v, hw_errors (cumulative), ambient_c; lists allowed for per-chain/per-chip values
      fault:     reason:str, detail:str; a failed poll adds poll_failed:True
      telemetry and poll-failed faults of polled devices also carry poll_duration_s (POLL_DURATION_KEY): how long
                 that poll took (connect to parsed reply, wall seconds), a fact about the link, not a sensor
      state:     state:str ("online"|"offline"|"restarting"|...), plus free fields
    """

    t_ns: int
    device: str
    source: Source | str
    kind: Kind | str
    data: Mapping[str, Any] = field(default_factory=dict)


class Subscription:
    """A consumer's bounded view of the fan-out. Iterate it asynchronously, or drain it with ``get_nowait_all``."""

    def __init__(self, fanout: FanOut, maxsize: int, kinds: frozenset[str] | None) -> None:
        self._fanout = fanout
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.kinds = kinds
        self.dropped = 0
        self.delivered = 0

    def offer(self, event: Event) -> None:
        if self.kinds is not None and str(event.kind) not in self.kinds:
            return
        try:
            self.queue.put_nowait(event)
            self.delivered += 1
        except asyncio.QueueFull:
            self.dropped += 1

    async def get(self) -> Event:
        return await self.queue.get()

    def get_nowait_all(self) -> list[Event]:
        items: list[Event] = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                return items

    def close(self) -> None:
        self._fanout.unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class FanOut:
    """Publish/subscribe hub. ``publish`` is O(subscribers), synchronous, and never blocks."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.published = 0

    def subscribe(self, maxsize: int = 10_000, kinds: set[str] | None = None) -> Subscription:
        sub = Subscription(self, maxsize, frozenset(kinds) if kinds else None)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        self.published += 1
        for sub in self._subs:
            sub.offer(event)

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self._subs)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
