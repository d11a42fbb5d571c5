"""End to end against the simulator (drivers/sim) and the real Stratum server (drivers/stratum): S9, LV06 and LB-Box
mine against our pool while their devices poll the simulated management APIs. Checks: telemetry in SI units that
agrees with the simulator's physics, actuation that changes the simulator, envelope refusals that change nothing,
shares attributed to the device, and injected faults (HTTP 500, timeouts, RPC disconnects) reported and survived."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.device import ActuationUnsupported, EnvelopeViolation
from asicrc.drivers.events import Event, FanOut, Kind, Source, Subscription
from asicrc.drivers.models import create_device
from asicrc.drivers.models.base import BaseDevice
from asicrc.drivers.probe import probe
from asicrc.drivers.sim import Fault, SimLBBox, SimLV06, SimMiner, SimS9
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.vtime import run_virtual, running_virtual_loop

SPEED = 20.0  # simulated seconds per wall second


async def wait_for(sub: Subscription, pred: Callable[[Event], bool], wall_s: float = 20.0) -> Event:
    async def scan() -> Event:
        while True:
            ev = await sub.get()
            if pred(ev):
                return ev
    return await asyncio.wait_for(scan(), wall_s)


def kind(k: Kind, **data: object) -> Callable[[Event], bool]:
    """Events of the device driver (the Stratum server's own per-connection state events are excluded)."""
    return lambda ev: (ev.kind == k and ev.source != Source.STRATUM
                       and all(ev.data.get(key) == v for key, v in data.items()))


def hashing(device: str) -> Callable[[Event], bool]:
    """Telemetry after the firmware's first hashrate window (it reports 0 H/s right after boot)."""
    return lambda e: e.kind == Kind.TELEMETRY and e.device == device and e.data.get("hashrate_hs", 0) > 0


class Rig:
    def __init__(self, clock: Clock, fanout: FanOut, server: StratumServer) -> None:
        self.clock, self.fanout, self.server = clock, fanout, server


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = Clock(speed=SPEED)
    fanout = FanOut()
    server = StratumServer(ServerConfig(difficulty=1e-4, job_interval_s=0), fanout=fanout, clock=clock)
    await server.start()
    try:
        yield Rig(clock, fanout, server)
    finally:
        await server.stop()


async def start_pair(rig: Rig, sim: SimMiner, spec: Callable[[dict[str, int]], dict]) -> tuple[BaseDevice, Subscription]:
    await sim.start()  # ports are known once its servers listen
    sub = rig.fanout.subscribe()
    dev = create_device(spec(sim.ports), fanout=rig.fanout, clock=rig.clock, stratum_server=rig.server)
    assert isinstance(dev, BaseDevice)
    await dev.start()
    return dev, sub


async def test_lv06_against_sim(rig: Rig) -> None:
    sim = SimLV06(serial="LV06-E2E", seed=3, clock=rig.clock, stratum=("127.0.0.1", rig.server.port),
                  user="lab.lv06a")
    dev, sub = await start_pair(rig, sim, lambda ports: {"model": "lv06", "device_id": "lv06a", "http_port": ports["http"],
                                           "worker": "lab.lv06a", "poll_interval_s": 2.0, "timeout_s": 0.5,
                                           "restart_timeout_s": 60.0})
    shares = dev.events()
    try:
        online = await wait_for(sub, kind(Kind.STATE, state="online"))
        assert online.data["serial"] == sim.mac and online.data["firmware"] == sim.firmware_version
        tel = (await wait_for(sub, hashing("lv06a"))).data
        assert tel["frequency_hz"] == pytest.approx(485e6)
        assert tel["core_voltage_v"] == pytest.approx(float(sim.physics.voltage_v.mean()), rel=0.03)
        assert tel["hashrate_hs"] == pytest.approx(sim.physics.hashrate_hs, rel=0.3)  # firmware 5 s average
        assert 20 < tel["temp_chip_c"] < 100 and 2 < tel["power_w"] < 40 and tel["fan_rpm"] > 0

        async def first_share() -> Event:
            async for ev in shares:
                if ev.kind == Kind.SHARE:
                    return ev
            raise AssertionError
        share = await asyncio.wait_for(first_share(), 30)
        assert share.device == "lv06a" and share.source == Source.STRATUM and share.data["verdict"] == "accepted"

        await dev.set_frequency(525)
        assert np.all(sim.physics.freq_hz == 525e6)
        await dev.set_fan(90)
        assert not sim.physics.fan_auto and sim.physics.fan_percent == 90
        with pytest.raises(EnvelopeViolation, match="outside"):
            await dev.set_frequency(800)
        with pytest.raises(EnvelopeViolation, match="settle time"):
            await dev.set_frequency(500)
        with pytest.raises(EnvelopeViolation, match="max step"):
            await dev.set_core_voltage(1300)
        assert np.all(sim.physics.freq_hz == 525e6) and np.allclose(sim.physics.voltage_v, 1.2)
        await dev.set_core_voltage(1250)
        assert np.allclose(sim.physics.voltage_v, 1.25)
        await dev.set_difficulty(2e-4)
        assigned = await wait_for(sub, lambda e: e.kind == Kind.SHARE and e.device == "lv06a"
                                  and e.data["assigned_diff"] == pytest.approx(2e-4), wall_s=30)
        assert assigned.data["verdict"] == "accepted"

        sim.inject(Fault.http_500(count=3))
        await wait_for(sub, kind(Kind.FAULT, reason="http-status"))
        sim.inject(Fault.http_timeout(count=1, seconds=1.0))
        await wait_for(sub, kind(Kind.FAULT, reason="transport"))
        await wait_for(sub, lambda e: e.kind == Kind.TELEMETRY and e.device == "lv06a")  # survived

        await dev.restart()  # sim reboot gap 8 s simulated = 0.4 s wall
        mine = [e for e in sub.get_nowait_all() if e.kind == Kind.STATE and e.device == "lv06a"
                and e.source != Source.STRATUM]
        states = [e.data["state"] for e in mine]
        assert states[-4:] == ["restarting", "offline", "online", "restarted"] and mine[-1].data["went_down"]
    finally:
        await shares.aclose()
        await dev.stop()
        await sim.stop()


async def test_s9_against_sim(rig: Rig) -> None:
    sim = SimS9(serial="S9-E2E", seed=5, clock=rig.clock, stratum=("127.0.0.1", rig.server.port), user="lab.s9a")
    dev, sub = await start_pair(rig, sim, lambda ports: {"model": "s9", "device_id": "s9a", "port": ports["rpc"],
                                           "worker": "lab.s9a", "poll_interval_s": 5.0, "timeout_s": 1.0})
    try:
        tel = (await wait_for(sub, hashing("s9a"))).data
        assert dev.identity.chips == 189
        assert len(tel["temp_chip_c"]) == 3 and all(20 < t < 110 for t in tel["temp_chip_c"])
        assert tel["frequency_hz"] == pytest.approx(650e6)
        assert tel["hashrate_hs"] == pytest.approx(sim.physics.hashrate_hs, rel=0.3)
        assert all(rpm > 0 for rpm in tel["fan_rpm"])
        with pytest.raises(ActuationUnsupported):
            await dev.set_frequency(600)  # stock bmminer: read-only API
        await wait_for(sub, lambda e: e.kind == Kind.SHARE and e.device == "s9a", wall_s=30)
        await dev.set_difficulty(5e-4)
        await wait_for(sub, lambda e: e.kind == Kind.SHARE and e.device == "s9a"
                       and e.data["assigned_diff"] == pytest.approx(5e-4), wall_s=30)
        sim.inject(Fault.rpc_disconnect(count=4))
        await wait_for(sub, lambda e: e.kind == Kind.FAULT and e.device == "s9a")
        await wait_for(sub, kind(Kind.STATE, state="offline"))
        await wait_for(sub, kind(Kind.STATE, state="online"), wall_s=30)
    finally:
        await dev.stop()
        await sim.stop()


async def test_lbbox_against_sim() -> None:
    clock = Clock(speed=SPEED)
    fanout = FanOut()
    server = StratumServer(ServerConfig(difficulty=1e-4, job_interval_s=0, lbry=True), fanout=fanout, clock=clock)
    await server.start()
    rig = Rig(clock, fanout, server)
    sim = SimLBBox(serial="LB-E2E", seed=7, clock=clock, stratum=("127.0.0.1", server.port), user="lab.lb")
    dev, sub = await start_pair(rig, sim, lambda ports: {"model": "lbbox", "device_id": "lb", "http_port": ports["http"],
                                           "rpc_port": ports["rpc"], "worker": "lab.lb",
                                           "poll_interval_s": 5.0, "timeout_s": 3.0})
    try:
        online = await wait_for(sub, kind(Kind.STATE, state="online"))
        assert online.data["firmware"] == "2.2.5" and online.data["serial"] == sim.mac
        tel = (await wait_for(sub, hashing("lb"))).data
        assert tel["frequency_hz"] == pytest.approx(500e6)
        assert tel["hashrate_hs"] == pytest.approx(sim.physics.hashrate_hs, rel=0.3)
        assert dev.identity.chips == 8
        await dev.set_frequency(550)  # the "High Performance" power plan
        assert np.all(sim.physics.freq_hz == 550e6) and sim.plan == 2
        with pytest.raises(EnvelopeViolation):
            await dev.set_frequency(900)
        await dev.set_fan(85)
        assert sim.physics.fan_percent == 85 and not sim.physics.fan_auto
        sim.inject(Fault.http_500(count=2))
        await wait_for(sub, kind(Kind.FAULT, reason="http-status"))
        await wait_for(sub, lambda e: e.kind == Kind.TELEMETRY and e.device == "lb")
        await wait_for(sub, lambda e: e.kind == Kind.SHARE and e.device == "lb", wall_s=30)
    finally:
        await dev.stop()
        await sim.stop()
        await server.stop()


def test_lv06_thermal_guard_on_overheating_sim() -> None:
    """A hot room (ambient step to 60 C) drives the simulated LV06 past throttle and stop: the device steps the
    simulator's frequency down, then parks it at the envelope's lowest frequency with the fan at 100 %.

    On virtual time (asicrc.drivers.vtime): the heating takes minutes of simulated time, which a sped-up wall clock
    could only compress by making the driver's 1 s HTTP timeout a few wall milliseconds (flaky under load)."""

    async def overheat() -> None:
        loop = running_virtual_loop()
        clock = loop.clock
        fanout = FanOut()
        sub = fanout.subscribe(kinds={"fault", "state"})
        sim = SimLV06(serial="LV06-HOT", seed=1, clock=clock)
        await sim.start()
        dev = create_device({"model": "lv06", "device_id": "hot", "http_port": sim.ports["http"],
                             "poll_interval_s": 2.0, "timeout_s": 1.0}, fanout=fanout, clock=clock)
        await dev.start()
        try:
            sim.inject(Fault.ambient(60.0))
            # (simulated seconds here: the wall budget this test had at speed 50)
            throttle = await wait_for(sub, kind(Kind.FAULT, reason="thermal-throttle"), wall_s=1500)
            assert "frequency -> 435 MHz" in throttle.data["detail"]
            stop = await wait_for(sub, kind(Kind.FAULT, reason="thermal-stop"), wall_s=1500)
            assert "72" in stop.data["detail"] and "no pause endpoint" in stop.data["detail"]
            assert np.all(sim.physics.freq_hz == 400e6) and sim.physics.fan_percent == 100.0
            with pytest.raises(EnvelopeViolation, match="thermal stop"):
                await dev.set_frequency(425)
            assert np.all(sim.physics.freq_hz == 400e6)
        finally:
            await dev.stop()
            await sim.stop()

    run_virtual(overheat)


async def test_probe_identifies_simulated_models() -> None:

    clock = Clock(speed=SPEED)
    sims = [SimS9(serial="P-S9", clock=clock), SimLV06(serial="P-LV", clock=clock), SimLBBox(serial="P-LB", clock=clock)]
    for s in sims:
        await s.start()
    try:
        s9, lv, lb = sims
        found, _ = await probe("127.0.0.1", s9.ports["rpc"], timeout_s=1.0)
        assert [(f.protocol, f.asicrc_model) for f in found] == [("rpc4028", "s9")]
        assert found[0].model == "Antminer S9" and found[0].firmware.startswith("BMMiner")
        found, _ = await probe("127.0.0.1", lv.ports["http"], timeout_s=1.0)
        assert [(f.protocol, f.asicrc_model, f.firmware) for f in found] == [("axeos", "lv06", lv.firmware_version)]
        found, _ = await probe("127.0.0.1", lb.ports["http"], timeout_s=1.0)
        assert [(f.protocol, f.asicrc_model, f.firmware) for f in found] == [("goldshell", "lbbox", "2.2.5")]
        found, _ = await probe("127.0.0.1", lb.ports["rpc"], timeout_s=1.0)
        assert [(f.protocol, f.asicrc_model) for f in found] == [("rpc4028", "lbbox")]
    finally:
        for s in sims:
            await s.stop()
