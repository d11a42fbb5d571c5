"""LV06 / S9 / LB-Box devices end to end against the loopback fakes: telemetry units, actuation through the envelope,
faults (HTTP 500, timeouts, disconnects, garbage) reported as events and survived, restart as leave/return."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from drivers_fakes import (
    LB_DEVS,
    S9_SUMMARY,
    S9_VERSION,
    FakeAxeOS,
    FakeGoldshell,
    FakeRpc,
    rpc_bytes,
    s9_stats,
)

from asicrc.drivers.clock import Clock
from asicrc.drivers.device import ActuationUnsupported, EnvelopeViolation
from asicrc.drivers.events import Event, FanOut, Kind, Source, Subscription
from asicrc.drivers.models import DeviceSpec, SpecError, create_device
from asicrc.drivers.models.base import BaseDevice


async def wait_for(sub: Subscription, pred: Callable[[Event], bool], timeout: float = 15.0) -> Event:  # noqa: ASYNC109
    async def scan() -> Event:
        while True:
            ev = await sub.get()
            if pred(ev):
                return ev
    return await asyncio.wait_for(scan(), timeout)


def kind(k: Kind, **data: object) -> Callable[[Event], bool]:
    return lambda ev: ev.kind == k and all(ev.data.get(key) == v for key, v in data.items())


@pytest.fixture
async def axeos():
    server = FakeAxeOS()
    await server.start()
    yield server
    await server.stop()


async def make(spec: dict, clock: Clock | None = None, **kw: object) -> tuple[BaseDevice, FanOut, Subscription]:
    fanout = FanOut()
    sub = fanout.subscribe()
    dev = create_device(spec, fanout=fanout, clock=clock or Clock(speed=100.0), **kw)
    assert isinstance(dev, BaseDevice)
    return dev, fanout, sub


async def test_lv06_telemetry_actuation_and_refusal(axeos: FakeAxeOS) -> None:
    dev, _, sub = await make({"model": "lv06", "device_id": "lv06-a", "http_port": axeos.port,
                              "poll_interval_s": 1.0, "timeout_s": 0.5})
    await dev.start()
    try:
        online = await wait_for(sub, kind(Kind.STATE, state="online"))
        assert online.data["serial"] == "AA:BB:CC:00:11:22" and online.data["firmware"] == "v2.1.8"
        assert dev.identity.extra["frequency_options_mhz"][0] == 400
        tel = await wait_for(sub, kind(Kind.TELEMETRY))
        assert tel.source == Source.HTTP and tel.device == "lv06-a"
        assert tel.data["frequency_hz"] == 485e6 and tel.data["hashrate_hs"] == pytest.approx(502.73e9)

        await dev.set_frequency(525)
        assert axeos.state["frequency"] == 525 and axeos.patches == [{"frequency": 525}]
        await wait_for(sub, kind(Kind.STATE, state="setting-changed", setting="frequency_mhz"))

        for bad in (dev.set_frequency(700), dev.set_frequency(575), dev.set_core_voltage(900)):
            with pytest.raises(EnvelopeViolation):
                await bad
        with pytest.raises(EnvelopeViolation, match="settle time"):
            await dev.set_frequency(500)  # within 10 s (clock) of the last change
        assert axeos.patches == [{"frequency": 525}]  # nothing sent for any refusal
        fault = await wait_for(sub, kind(Kind.FAULT, reason="envelope"))
        assert "outside [400, 575]" in fault.data["detail"]

        await dev.set_core_voltage(1250)
        await dev.set_fan(80)
        assert axeos.state["coreVoltage"] == 1250 and axeos.patches[-1] == {"fanspeed": 80, "autofanspeed": 0}
        await asyncio.sleep(0.15)  # > settle_s on the 100x clock
        await dev.set_frequency(500)
        assert axeos.state["frequency"] == 500
        snap = await dev.telemetry()
        assert snap["temp_chip_c"] == 58.25
    finally:
        await dev.stop()
    await wait_for(sub, kind(Kind.STATE, state="offline"))


async def test_lv06_survives_500_timeout_garbage_and_disconnect(axeos: FakeAxeOS) -> None:
    dev, fanout, sub = await make({"model": "lv06", "device_id": "lv06-b", "http_port": axeos.port,
                                   "poll_interval_s": 5.0, "timeout_s": 0.3})
    states = fanout.subscribe(kinds={"state"})
    await dev.start()
    try:
        await wait_for(states, kind(Kind.STATE, state="online"))
        for mode, reason in (("500", "http-status"), ("hang", "transport"), ("garbage", "malformed-reply"),
                             ("missing", "malformed-reply")):
            axeos.mode = mode
            fault = await wait_for(sub, kind(Kind.FAULT, reason=reason))
            assert fault.device == "lv06-b"
        await wait_for(states, kind(Kind.STATE, state="offline"))
        axeos.mode = "ok"
        await wait_for(states, kind(Kind.STATE, state="online"), timeout=20)
        await wait_for(sub, kind(Kind.TELEMETRY))
        # the whole server goes away and comes back on the same port
        port = axeos.port
        await axeos.stop()
        await wait_for(sub, kind(Kind.FAULT, reason="transport"))
        await wait_for(states, kind(Kind.STATE, state="offline"))
        revived = FakeAxeOS()
        await revived.start(port)
        try:
            await wait_for(states, kind(Kind.STATE, state="online"), timeout=20)
        finally:
            await revived.stop()
    finally:
        await dev.stop()


async def test_lv06_restart_leaves_and_returns(axeos: FakeAxeOS) -> None:
    dev, _, sub = await make({"model": "lv06", "device_id": "lv06-c", "http_port": axeos.port,
                              "poll_interval_s": 50.0, "timeout_s": 0.3, "restart_timeout_s": 50.0})
    await dev.start()
    try:
        await wait_for(sub, kind(Kind.STATE, state="online"))
        await dev.restart()
        assert axeos.restarts == 1
        states = [ev.data["state"] for ev in sub.get_nowait_all() if ev.kind == Kind.STATE]
        assert states[:4] == ["restarting", "offline", "online", "restarted"]
    finally:
        await dev.stop()


async def test_thermal_throttle_and_stop(axeos: FakeAxeOS) -> None:
    axeos.state["temp"] = 66.0  # above throttle (65 C)
    dev, _, sub = await make({"model": "lv06", "device_id": "lv06-hot", "http_port": axeos.port,
                              "poll_interval_s": 2.0, "timeout_s": 0.5}, clock=Clock(speed=100.0))
    await dev.start()
    try:
        fault = await wait_for(sub, kind(Kind.FAULT, reason="thermal-throttle"))
        assert "frequency -> 435 MHz" in fault.data["detail"]
        assert axeos.state["frequency"] == 435
        with pytest.raises(EnvelopeViolation, match="throttle"):
            await dev.set_frequency(450)
        axeos.state["temp"] = 75.0  # above stop (72 C)
        fault = await wait_for(sub, kind(Kind.FAULT, reason="thermal-stop"))
        assert axeos.state["frequency"] == 400 and axeos.state["fanspeed"] == 100 and axeos.paused
        assert "72" in fault.data["detail"] and "mining paused" in fault.data["detail"]
        axeos.state["temp"] = 50.0
        ok = await wait_for(sub, kind(Kind.STATE, state="thermal-ok"))
        assert ok.data["detail"] == "mining resumed" and not axeos.paused
    finally:
        await dev.stop()


async def test_s9_rpc_telemetry_and_unsupported_actuation() -> None:
    rpc = FakeRpc({"stats": rpc_bytes(s9_stats(), quirk=True), "summary": rpc_bytes(S9_SUMMARY),
                   "version": rpc_bytes(S9_VERSION)})
    await rpc.start()
    dev, fanout, sub = await make({"model": "s9", "device_id": "s9-1", "port": rpc.port, "worker": "rig1",
                                   "poll_interval_s": 1.0, "timeout_s": 0.5})
    events = dev.events()
    await dev.start()
    try:
        tel = await wait_for(sub, kind(Kind.TELEMETRY))
        assert tel.source == Source.RPC
        assert tel.data["temp_chip_c"] == [71.0, 73.0, 70.0] and tel.data["fan_rpm"] == [5880.0, 6120.0]
        assert tel.data["hashrate_hs"] == pytest.approx(13512.33e9)  # summary's GHS 5s
        assert dev.identity.chips == 189 and dev.identity.firmware == "BMMiner 2.0.0"
        with pytest.raises(ActuationUnsupported, match="can change only difficulty"):
            await dev.set_frequency(600)
        with pytest.raises(ActuationUnsupported, match="no Stratum server"):
            await dev.set_difficulty(1024)
        with pytest.raises(ActuationUnsupported, match="restart"):
            await dev.restart()
        # a share from the Stratum server for this worker shows up in the device's stream, relabelled
        fanout.publish(Event(1, "conn-7", Source.STRATUM, Kind.SHARE, {"worker": "acct.rig1", "verdict": "accepted"}))
        fanout.publish(Event(2, "conn-8", Source.STRATUM, Kind.SHARE, {"worker": "acct.other"}))

        async def first_share() -> Event:
            async for ev in events:
                if ev.kind == Kind.SHARE:
                    return ev
            raise AssertionError

        share = await asyncio.wait_for(first_share(), 5)
        assert share.device == "s9-1" and share.data["worker"] == "acct.rig1"
        rpc.mode = "close"
        await wait_for(sub, kind(Kind.FAULT, reason="malformed-reply"))
        await wait_for(sub, kind(Kind.STATE, state="offline"))
        rpc.mode = "ok"
        await wait_for(sub, kind(Kind.STATE, state="online"), timeout=20)
    finally:
        await events.aclose()
        await dev.stop()
        await rpc.stop()


class DifficultyHook:
    """The two StratumServer hooks a device uses (the real server is exercised in the sim end-to-end tests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []
        self.mapped: dict[str, str] = {}

    def map_worker(self, worker: str, device_id: str) -> None:
        self.mapped[worker] = device_id

    def connections_for_device(self, device: str) -> list[int]:
        return [7] if device in self.mapped.values() else []

    def set_difficulty(self, conn_id: int, difficulty: float) -> float:
        self.calls.append((conn_id, difficulty))
        return difficulty


async def test_lbbox_goldshell_and_4028() -> None:
    web = FakeGoldshell()
    await web.start()
    rpc = FakeRpc({"devs": rpc_bytes(LB_DEVS)})
    await rpc.start()
    hook = DifficultyHook()
    dev, _, sub = await make({"model": "lbbox", "device_id": "lb-1", "http_port": web.port, "rpc_port": rpc.port,
                              "poll_interval_s": 1.0, "timeout_s": 0.5}, stratum_server=hook)
    await dev.start()
    try:
        online = await wait_for(sub, kind(Kind.STATE, state="online"))
        assert online.data["serial"] == "c4:82:e1:00:aa:01" and online.data["firmware"] == "2.2.5"
        tel = await wait_for(sub, kind(Kind.TELEMETRY))
        assert tel.data["hashrate_hs"] == pytest.approx(176230.1e6) and tel.data["frequency_hz"] == 500e6
        await dev.set_frequency(550)
        assert web.settings["select"] == 2
        await asyncio.sleep(0.15)  # > settle_s on the 100x clock
        with pytest.raises(EnvelopeViolation, match="power plans"):
            await dev.set_frequency(600)
        assert web.settings["select"] == 2
        await dev.set_fan(90)
        assert web.settings["fanspeed"] == 90
        await dev.set_difficulty(4096)
        assert hook.mapped == {"lb-1": "lb-1"} and hook.calls == [(7, 4096.0)]
        rpc.mode = "hang"  # 4028 stalls: fall back to /mcb/cgminer, reported
        fault = await wait_for(sub, kind(Kind.FAULT, reason="transport"))
        assert "using /mcb/cgminer" in fault.data["detail"]
        await wait_for(sub, kind(Kind.TELEMETRY))
        await dev.restart()
        assert web.restarts == 1
        web.mode = "500"
        await wait_for(sub, kind(Kind.FAULT, reason="http-status"))
    finally:
        await dev.stop()
        await rpc.stop()
        await web.stop()


def test_bad_specs_name_the_key() -> None:
    fanout, clock = FanOut(), Clock()
    cases = [
        ({"model": "s10", "device_id": "x"}, "device.model: 's10' is not one of"),
        ({"model": "s9", "device_id": "bad id!"}, "device.device_id"),
        ({"model": "s9", "device_id": "x", "port": 70000}, "device.port: 70000 is not a TCP port"),
        ({"model": "s9", "device_id": "x", "colour": "red"}, "device.colour: unknown key"),
        ({"model": "s9", "device_id": "x", "poll_interval_s": "fast"}, "device.poll_interval_s: expected a number"),
        ({"model": "bm1366-uart", "device_id": "x"}, "device.serial_port: required"),
        ({"device_id": "x"}, "device.model: required"),
    ]
    for raw, needle in cases:
        with pytest.raises(SpecError) as info:
            create_device(raw, fanout=fanout, clock=clock)
        assert needle in str(info.value)
    assert DeviceSpec(model="s9", device_id="a", port=4029).rpc_port_or(4028) == 4029
