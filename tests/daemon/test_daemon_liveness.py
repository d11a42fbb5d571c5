"""A dead device reads as down: poll_success 0, its values leave metrics/state/telemetry, its last-good age is
exported (`asicrc_device_last_success_timestamp`). Unit level on virtual time, then a real LV06 driver polling a
real loopback AxeOS server that is shut down under it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asicrc.daemon.api import Api
from asicrc.daemon.fleetstate import FleetState, stale_after_s
from asicrc.daemon.metrics import make_registry
from asicrc.daemon.mqtt import device_state_payload
from asicrc.drivers.clock import Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source
from asicrc.drivers.models import create_device

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers"))
from drivers_fakes import FakeAxeOS

S = 1_000_000_000
TELE = {"hashrate_hs": 500e9, "temp_chip_c": 55.0, "power_w": 13.0, "fan_rpm": 3000.0}


def _samples(fleet: FleetState) -> dict[str, dict[str, float]]:
    """metric name -> {device: value} from a real exposition of the fleet snapshot."""
    out: dict[str, dict[str, float]] = {}
    for fam in text_string_to_metric_families(generate_latest(make_registry(fleet.snapshot)).decode()):
        for s in fam.samples:
            if "device" in s.labels:
                out.setdefault(s.name, {})[s.labels["device"]] = s.value
    return out


def _fleet_with_two_devices(t: list[int]) -> FleetState:
    fleet = FleetState("n", now_ns=lambda: t[0], poll_interval_s=1.0, wall_s=lambda: 1_700_000_000.0 + t[0] / S)
    for dev in ("live", "dead"):
        fleet.add_device(dev, "lv06", "http")
        fleet.apply(Event(t[0], dev, Source.HTTP, Kind.STATE, {"state": "online", "serial": dev}))
        fleet.apply(Event(t[0], dev, Source.HTTP, Kind.TELEMETRY, dict(TELE)))
    return fleet


def test_offline_device_leaves_metrics_state_and_telemetry() -> None:
    t = [10 * S]
    fleet = _fleet_with_two_devices(t)
    t[0] += S
    # the driver's failure path: a poll fault, then offline after the second one
    fleet.apply(Event(t[0], "dead", Source.HTTP, Kind.FAULT, {"reason": "transport", "detail": "refused",
                                                             "poll_failed": True}))
    fleet.apply(Event(t[0], "dead", Source.HTTP, Kind.STATE, {"state": "offline"}))
    fleet.apply(Event(t[0], "live", Source.HTTP, Kind.TELEMETRY, dict(TELE)))
    snap = fleet.refresh()
    m = _samples(fleet)
    # negative control: the live device exports everything as before
    assert m["asicrc_device_up"]["live"] == 1 and m["asicrc_poll_success"]["live"] == 1
    assert m["asicrc_chip_temperature_celsius"]["live"] == 55.0
    # the dead one: down, poll failed, no telemetry gauges, last success exported
    assert m["asicrc_device_up"]["dead"] == 0 and m["asicrc_poll_success"]["dead"] == 0
    for name in ("asicrc_chip_temperature_celsius", "asicrc_hashrate_hashes_per_second", "asicrc_power_watts",
                 "asicrc_fan_rpm"):
        assert "dead" not in m[name], name
    assert m["asicrc_device_last_success_timestamp"]["dead"] == 1_700_000_010.0
    state = device_state_payload(snap["devices"]["dead"])
    assert state["up"] is False and state["available"] is False and state["stale"] is True
    assert state["temp_chip_c"] is None and state["hashrate_hs"] is None and state["telemetry"] == {}
    assert state["last_good_telemetry"]["temp_chip_c"] == 55.0 and state["last_success_age_s"] == 1.0
    live_state = device_state_payload(snap["devices"]["live"])
    assert live_state["temp_chip_c"] == 55.0 and live_state["stale"] is False


async def test_telemetry_query_marks_a_dead_device_stale() -> None:
    t = [10 * S]
    fleet = _fleet_with_two_devices(t)
    fleet.apply(Event(t[0], "dead", Source.HTTP, Kind.STATE, {"state": "offline"}))
    fleet.refresh()

    class Ctl:
        node_id = "n"

        def snapshot(self) -> dict[str, Any]:
            return fleet.snapshot()

    api = Api(Ctl(), [])  # type: ignore[arg-type]
    both = await api.handle("telemetry", {})
    assert both["live"]["temp_chip_c"] == 55.0
    assert both["dead"] == {"stale": True, "last_success_unix": 1_700_000_010.0, "last_good": TELE}


def test_a_silent_driver_goes_stale_without_an_offline_event() -> None:
    t = [10 * S]
    fleet = _fleet_with_two_devices(t)
    limit = stale_after_s(1.0)
    t[0] += int((limit - 0.5) * S)  # just inside the window: still up (one slow poll must not flip it)
    fleet.refresh()
    assert _samples(fleet)["asicrc_device_up"]["dead"] == 1
    t[0] += S  # past it: nothing arrived, the driver is hung or gone
    fleet.refresh()
    m = _samples(fleet)
    assert m["asicrc_device_up"]["dead"] == 0 and m["asicrc_poll_success"]["dead"] == 0
    assert "dead" not in m.get("asicrc_chip_temperature_celsius", {})


def test_never_polled_device_is_down_with_timestamp_zero() -> None:
    fleet = FleetState("n", now_ns=lambda: 5 * S, poll_interval_s=1.0)
    fleet.add_device("ghost", "s9", "rpc")
    fleet.refresh()
    m = _samples(fleet)
    assert m["asicrc_device_up"]["ghost"] == 0 and m["asicrc_device_last_success_timestamp"]["ghost"] == 0


async def test_real_driver_against_a_server_that_dies() -> None:
    """LV06 driver -> real aiohttp AxeOS on 127.0.0.1; the server is shut down; the fleet reads the device down."""
    server = FakeAxeOS()
    await server.start()
    fanout = FanOut()
    clock = Clock()
    fleet = FleetState("n", now_ns=clock.now_ns, poll_interval_s=0.2)
    fleet.add_device("lv06", "lv06", "http")
    sub = fanout.subscribe()
    dev = create_device({"model": "lv06", "device_id": "lv06", "http_port": server.port, "poll_interval_s": 0.2,
                         "timeout_s": 0.5}, fanout=fanout, clock=clock)

    async def fold() -> None:
        while True:
            fleet.apply(await sub.get())

    folder = asyncio.create_task(fold())

    async def until(pred: Any, timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not pred(fleet.refresh()["devices"]["lv06"]):  # noqa: ASYNC110 (polls a plain snapshot)
                await asyncio.sleep(0.05)

    try:
        await dev.start()
        await until(lambda d: d["up"] and d["telemetry"].get("temp_chip_c"), 10)
        m = _samples(fleet)
        assert m["asicrc_poll_success"]["lv06"] == 1 and m["asicrc_chip_temperature_celsius"]["lv06"] == 58.25
        last_ok = m["asicrc_device_last_success_timestamp"]["lv06"]
        await server.stop()
        await until(lambda d: not d["up"], 10)
        m = _samples(fleet)
        assert m["asicrc_device_up"]["lv06"] == 0 and m["asicrc_poll_success"]["lv06"] == 0
        assert "lv06" not in m.get("asicrc_chip_temperature_celsius", {})
        assert "lv06" not in m.get("asicrc_hashrate_hashes_per_second", {})
        assert m["asicrc_device_last_success_timestamp"]["lv06"] >= last_ok > 0
    finally:
        await dev.stop()
        folder.cancel()
        await server.stop()
