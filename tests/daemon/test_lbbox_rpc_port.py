"""`rpc_port` in a device table reaches the LB-Box driver: a Goldshell whose 4028 API is not on 4028 is polled
over it (no fault every poll); without it the driver tries 4028 and reports the fallback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from asicrc.daemon import wiring
from asicrc.daemon.config import DeviceConfig
from asicrc.drivers.clock import Clock
from asicrc.drivers.events import FanOut, Kind


def _port_4028_free() -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 4028)) != 0


async def _first_poll(dc: DeviceConfig, clock: Clock) -> list[str]:
    """Fault details up to the first telemetry of the real LB-Box driver against `dc`."""
    fanout = FanOut()
    sub = fanout.subscribe()
    device = wiring.create_driver(dc, fanout, clock, 0.2)
    await device.start()
    faults: list[str] = []
    try:
        async with asyncio.timeout(20):
            while True:
                ev = await sub.get()
                if str(ev.kind) == Kind.FAULT:
                    faults.append(str(ev.data.get("detail", "")))
                if str(ev.kind) == Kind.TELEMETRY:
                    return faults
    finally:
        await device.stop()


async def test_rpc_port_is_used_for_board_telemetry() -> None:
    clock = Clock(1.0)
    sim = await wiring.start_sim(DeviceConfig(id="lb", model="lbbox", seed=3), clock, None)
    try:
        web, rpc = int(sim.ports["http"]), int(sim.ports["rpc"])
        assert rpc != 4028
        with_port = DeviceConfig(id="lb", model="lbbox", transport="http", port=web, rpc_port=rpc)
        assert not [f for f in await _first_poll(with_port, clock) if "4028" in f]
        if not _port_4028_free():
            pytest.skip("something listens on 127.0.0.1:4028; the negative control needs it closed")
        without = DeviceConfig(id="lb", model="lbbox", transport="http", port=web)
        assert any("4028 devs failed" in f for f in await _first_poll(without, clock))
    finally:
        await sim.stop()
