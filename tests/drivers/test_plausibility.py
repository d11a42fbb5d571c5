"""Out-of-range telemetry is a fault, never a value: a -300 C chip is not cold (issue 13 item 7).

Against a real loopback AxeOS server: the LV06 heats past throttle, then its sensor reads -300 C (or NaN): the
guard must keep its state, heating increases stay refused with the reason, a fault names the field, and the
exported temperature is None. The control: a sane cool reading releases the guard and allows the increase.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from drivers_fakes import LB_DEVS, FakeAxeOS, axeos_info, s9_stats
from test_network_devices import kind, make, wait_for

from asicrc.drivers.api.axeos import parse_info
from asicrc.drivers.api.cgminer import parse_devs, parse_stats
from asicrc.drivers.clock import Clock
from asicrc.drivers.device import EnvelopeViolation
from asicrc.drivers.events import Kind
from asicrc.drivers.models.plausibility import PLAUSIBLE, check_telemetry


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


def _numeric_keys(tel: dict[str, object]) -> set[str]:
    def numeric(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return {k for k, v in tel.items() if numeric(v) or (isinstance(v, list) and any(numeric(x) for x in v))}


def test_every_numeric_telemetry_field_has_a_range() -> None:
    """What the parsers make of realistic S9 (4028 stats), LB-Box (4028 devs) and LV06 (AxeOS info) replies: every
    numeric field is range-checked, so a new field cannot slip past plausibility unnoticed."""
    seen = _numeric_keys(parse_stats(s9_stats())) | _numeric_keys(parse_devs(LB_DEVS)) \
        | _numeric_keys(parse_info(axeos_info()).telemetry)
    assert {"temp_chip_c", "hashrate_hs", "chips"} <= seen  # the parsers really produced telemetry
    assert seen - PLAUSIBLE.keys() == set(), "numeric telemetry without a plausibility range"
    # positive control: a field no range covers is what this check reports
    assert _numeric_keys({"temp_hotspot_c": 70.0, "serial": "x"}) - PLAUSIBLE.keys() == {"temp_hotspot_c"}
    # the per-chain counts of an S9 that reports 10 000 chips on a chain are implausible, 63 are not
    assert check_telemetry({"chips": [63, 63, 10_000], "chips_ok": [63, 62, 0]}).faulty_keys == {"chips"}
