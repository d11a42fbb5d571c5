"""Out-of-range telemetry is a fault, never a value: a -300 C chip is not cold (issue 13 item 7).

Against a real loopback AxeOS server: the LV06 heats past throttle, then its sensor reads -300 C (or NaN): the
guard must keep its state, heating increases stay refused with the reason, a fault names the field, and the
exported temperature is None. The control: a sane cool reading releases the guard and allows the increase.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from drivers_fakes import FakeAxeOS
from test_network_devices import kind, make, wait_for

from asicrc.drivers.clock import Clock
from asicrc.drivers.device import EnvelopeViolation
from asicrc.drivers.events import Kind
from asicrc.drivers.models.plausibility import check_telemetry


@pytest.fixture
async def axeos():
    server = FakeAxeOS()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("bogus", [-300.0, math.nan, 1000.0], ids=["minus-300", "nan", "plus-1000"])
async def test_broken_sensor_keeps_refusal_and_guard_on(axeos: FakeAxeOS, bogus: float) -> None:
    axeos.state["temp"] = 66.0  # above the LV06 throttle (65 C)
    dev, _, sub = await make({"model": "lv06", "device_id": "lv06-s", "http_port": axeos.port,
                              "poll_interval_s": 2.0, "timeout_s": 2.0}, clock=Clock(speed=100.0))
    await dev.start()
    try:
        await wait_for(sub, kind(Kind.FAULT, reason="thermal-throttle"))
        assert dev.thermal_state == "throttle" and axeos.state["frequency"] == 435
        axeos.state["temp"] = bogus
        reason = "malformed-reply" if math.isnan(bogus) else "implausible"
        fault = await wait_for(sub, kind(Kind.FAULT, reason=reason))
        if reason == "implausible":
            assert "temp_chip_c" in fault.data["detail"] and "outside [-40, 150] C" in fault.data["detail"]
            tele = await wait_for(sub, lambda e: e.kind == Kind.TELEMETRY)
            assert tele.data["temp_chip_c"] is None  # not exported as a reading
        await asyncio.sleep(0.5)  # several polls (virtual 50 s) with the bogus value
        assert dev.thermal_state == "throttle"  # never released as "cold"
        assert dev.temperature_c() != bogus
        with pytest.raises(EnvelopeViolation, match="not trusted"):
            await dev.set_frequency(485)
        assert axeos.state["frequency"] == 435
        if reason == "implausible":  # (NaN fails whole polls: the device is offline, its transport reset)
            await dev.set_frequency(400)  # a decrease stays possible: it is the safe direction
        # control: a sane cool reading releases the guard and the increase goes through
        axeos.state["temp"] = 50.0
        await wait_for(sub, kind(Kind.STATE, state="thermal-ok"))
        await asyncio.sleep(0.15)  # settle time of the last change (10 s virtual)
        await dev.set_frequency(450)
        assert axeos.state["frequency"] == 450
    finally:
        await dev.stop()


async def test_cool_device_with_broken_sensor_refuses_increases(axeos: FakeAxeOS) -> None:
    axeos.state["temp"] = -300.0
    dev, _, sub = await make({"model": "lv06", "device_id": "lv06-c", "http_port": axeos.port,
                              "poll_interval_s": 2.0, "timeout_s": 2.0}, clock=Clock(speed=100.0))
    await dev.start()
    try:
        await wait_for(sub, kind(Kind.FAULT, reason="implausible"))
        assert dev.thermal_state == "ok" and dev.temperature_c() is None
        with pytest.raises(EnvelopeViolation, match=r"not trusted \(implausible temp_chip_c\)"):
            await dev.set_frequency(500)
        await dev.set_fan(80)  # not a heating setting: allowed
        assert axeos.state["fanspeed"] == 80
    finally:
        await dev.stop()


def test_check_telemetry_bounds() -> None:
    ok = {"temp_chip_c": [61.0, 63.5], "hashrate_hs": 13.5e12, "power_w": 1320.0, "fan_rpm": [4800, 0],
          "frequency_hz": [650e6] * 3, "uptime_s": 10, "serial": "x"}
    assert check_telemetry(ok).problems == () and check_telemetry(ok).telemetry == ok  # negative control
    bad = check_telemetry({"temp_chip_c": [61.0, -300.0, 62.0], "power_w": -5.0, "fan_rpm": 1e9,
                           "hashrate_hs": 13.5e12})
    assert bad.telemetry == {"temp_chip_c": [61.0, None, 62.0], "power_w": None, "fan_rpm": None,
                             "hashrate_hs": 13.5e12}
    assert bad.faulty_keys == {"temp_chip_c", "power_w", "fan_rpm"}
    assert bad.problems[0] == "temp_chip_c[1] = -300.0 outside [-40, 150] C"
