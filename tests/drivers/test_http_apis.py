"""AxeOS and Goldshell HTTP clients/parsers against real loopback aiohttp servers with firmware reply shapes."""

from __future__ import annotations

import time

import pytest
from drivers_fakes import FakeAxeOS, FakeGoldshell, axeos_info

from asicrc.drivers.api import HttpStatusError, MalformedReply, TransportError
from asicrc.drivers.api.axeos import AxeOSClient, parse_asic, parse_info
from asicrc.drivers.api.goldshell import GoldshellClient, parse_settings, parse_status


@pytest.fixture
async def axeos():
    server = FakeAxeOS()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def goldshell():
    server = FakeGoldshell()
    await server.start()
    yield server
    await server.stop()


async def test_axeos_info_units_and_identity(axeos: FakeAxeOS) -> None:
    client = AxeOSClient("127.0.0.1", axeos.port, timeout_s=1.0)
    try:
        info = await client.info()
        asic = await client.asic()
    finally:
        await client.close()
    t = info.telemetry
    assert t["hashrate_hs"] == pytest.approx(502.73e9)
    assert t["temp_chip_c"] == 58.25 and t["temp_board_c"] == 52.0
    assert t["frequency_hz"] == 485e6
    assert t["core_voltage_v"] == pytest.approx(1.191)
    assert t["power_w"] == 13.1 and t["fan_rpm"] == 4105.0 and t["fan_percent"] == 60.0
    assert t["input_voltage_v"] == pytest.approx(12.05) and t["input_current_a"] == pytest.approx(1.0875)
    assert (info.mac, info.firmware, info.asic_model, info.model) == (
        "AA:BB:CC:00:11:22", "v2.1.8", "BM1366", "Lucky Miner LV06")
    assert info.core_voltage_mv == 1200
    assert asic.frequency_options_mhz[-1] == 575 and asic.voltage_options_mv[0] == 1100


async def test_axeos_patch_and_restart_wait(axeos: FakeAxeOS) -> None:
    client = AxeOSClient("127.0.0.1", axeos.port, timeout_s=0.5)
    try:
        await client.patch_system({"frequency": 500})
        assert axeos.state["frequency"] == 500
        await client.restart()
        with pytest.raises(TransportError):
            await client.info()  # the device is away while it reboots
        info, went_down = await client.wait_until_back(5.0, poll_s=0.05)
        assert info.frequency_mhz == 500 and went_down
        info, went_down = await client.wait_until_back(5.0, poll_s=0.05, down_within_s=0.2)
        assert not went_down  # it never left: reported, not hidden
        axeos.down_until = float("inf")
        with pytest.raises(TransportError, match=r"did not come back within 0\.3 s"):
            await client.wait_until_back(0.3, poll_s=0.05)
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("mode", "error", "needle"),
    [("500", HttpStatusError, "HTTP 500"), ("garbage", MalformedReply, "not JSON"),
     ("missing", MalformedReply, "missing field 'hashRate'"), ("hang", TransportError, "no complete reply within 0.3 s")],
)
async def test_axeos_faults_are_typed(axeos: FakeAxeOS, mode: str, error: type, needle: str) -> None:
    axeos.mode = mode
    client = AxeOSClient("127.0.0.1", axeos.port, timeout_s=0.3)
    t0 = time.monotonic()
    try:
        with pytest.raises(error) as info:
            await client.info()
    finally:
        await client.close()
    assert needle in str(info.value)
    assert time.monotonic() - t0 < 2.0


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(temp="n/a"), "field 'temp': expected a number, got 'n/a'"),
        (lambda d: d.pop("frequency"), "missing field 'frequency'"),
        (lambda d: d.update(power=[1]), "field 'power': expected a number, got list"),
        (lambda d: d.update(fanrpm=float("inf")), "expected a finite number"),
        (lambda d: d.update(macAddr={"a": 1}), "field 'macAddr': expected a string"),
    ],
)
def test_axeos_info_malformed_fields(edit, needle: str) -> None:
    info = axeos_info()
    edit(info)
    with pytest.raises(MalformedReply) as err:
        parse_info(info)
    assert needle in str(err.value)


def test_axeos_optional_fields_absent_and_not_object() -> None:
    minimal = {"hashRate": 1.0, "temp": 40, "frequency": 400, "coreVoltage": 1150}
    info = parse_info(minimal)
    assert info.telemetry == {"hashrate_hs": 1e9, "temp_chip_c": 40.0, "frequency_hz": 400e6,
                              "core_voltage_v": pytest.approx(1.15)}
    with pytest.raises(MalformedReply, match="expected a JSON object, got list"):
        parse_info([1, 2])
    with pytest.raises(MalformedReply, match="frequencyOptions"):
        parse_asic({"frequencyOptions": ["fast"]})


async def test_goldshell_login_status_settings_devs(goldshell: FakeGoldshell) -> None:
    client = GoldshellClient("127.0.0.1", goldshell.port, timeout_s=1.0)
    try:
        status = await client.status()  # logs in on first use
        assert (status.model, status.firmware) == ("Goldshell-LBBox", "2.2.5")
        settings = await client.settings()
        assert settings.mac == "c4:82:e1:00:aa:01" and settings.frequency_mhz == 500 and settings.fan_percent == 60
        devs = await client.devs()
        assert devs["hashrate_hs"] == pytest.approx(176230.1e6) and devs["hw_errors"] == 7
        goldshell.expire_tokens()  # token expiry: one re-login, transparently
        await client.put_settings({**settings.raw, "fanspeed": 80})
        assert goldshell.settings["fanspeed"] == 80 and goldshell.logins == 2
        await client.restart()
        assert goldshell.restarts == 1
    finally:
        await client.close()


async def test_goldshell_wrong_password_and_500(goldshell: FakeGoldshell) -> None:
    client = GoldshellClient("127.0.0.1", goldshell.port, password="wrong", timeout_s=1.0)
    try:
        with pytest.raises(MalformedReply, match=r"no 'JWT Token'.*wrong password"):
            await client.status()
        client.password = "123456789"
        goldshell.mode = "500"
        with pytest.raises(HttpStatusError, match="HTTP 500"):
            await client.status()
    finally:
        await client.close()


def test_goldshell_parsers_malformed() -> None:
    with pytest.raises(MalformedReply, match="missing field 'model'"):
        parse_status({"firmware": "2.2.5"})
    with pytest.raises(MalformedReply, match=r"powerplans\[0\]"):
        parse_settings({"powerplans": ["x"]})
    with pytest.raises(MalformedReply, match="field 'select'"):
        parse_settings({"select": "one"})
