"""AxeOS (ESP-Miner and the LV06's AxeOS-derived firmware) HTTP API client and parsers.

Units on the wire (ESP-Miner openapi): hashRate GH/s, temp/vrTemp degC, power W, voltage/coreVoltage mV,
current mA, frequency MHz, fanrpm rpm, fanspeed percent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..clock import REAL_TIME, Clock
from .errors import ApiError, MalformedReply, TransportError
from .fields import as_list, as_mapping, number, opt_number, opt_string
from .http import JsonHttp

# (wire key, telemetry key, scale to SI) ; required keys must be present in every info reply.
INFO_REQUIRED: tuple[tuple[str, str, float], ...] = (
    ("hashRate", "hashrate_hs", 1e9),
    ("temp", "temp_chip_c", 1.0),
    ("frequency", "frequency_hz", 1e6),
)
INFO_OPTIONAL: tuple[tuple[str, str, float], ...] = (
    ("vrTemp", "temp_board_c", 1.0),
    ("power", "power_w", 1.0),
    ("coreVoltageActual", "core_voltage_v", 1e-3),
    ("voltage", "input_voltage_v", 1e-3),
    ("current", "input_current_a", 1e-3),
    ("fanrpm", "fan_rpm", 1.0),
    ("fanspeed", "fan_percent", 1.0),
    ("sharesAccepted", "shares_accepted", 1.0),
    ("sharesRejected", "shares_rejected", 1.0),
    ("uptimeSeconds", "uptime_s", 1.0),
    ("expectedHashrate", "expected_hashrate_hs", 1e9),
)


@dataclass(slots=True, frozen=True)
class AxeOSInfo:
    telemetry: dict[str, Any]
    frequency_mhz: float
    core_voltage_mv: float | None  # the setting (coreVoltage), not the measured value
    fan_percent: float | None
    asic_model: str
    model: str  # minerModel (LV06 stock firmware) or boardVersion
    firmware: str
    mac: str
    hostname: str


def parse_info(reply: Any) -> AxeOSInfo:
    where = "AxeOS /api/system/info"
    info = as_mapping(reply, where)
    tel: dict[str, Any] = {}
    for key, name, scale in INFO_REQUIRED:
        tel[name] = number(info, key, where) * scale
    for key, name, scale in INFO_OPTIONAL:
        value = opt_number(info, key, where)
        if value is not None:
            tel[name] = value * scale
    # coreVoltageActual is measured; fall back to the setpoint when the firmware has no sense line.
    core_set = opt_number(info, "coreVoltage", where)
    if "core_voltage_v" not in tel and core_set is not None:
        tel["core_voltage_v"] = core_set * 1e-3
    return AxeOSInfo(
        telemetry=tel,
        frequency_mhz=tel["frequency_hz"] / 1e6,
        core_voltage_mv=core_set,
        fan_percent=tel.get("fan_percent"),
        asic_model=opt_string(info, "ASICModel", where),
        model=opt_string(info, "minerModel", where) or opt_string(info, "deviceModel", where)
        or opt_string(info, "boardVersion", where),
        firmware=opt_string(info, "version", where),
        mac=opt_string(info, "macAddr", where),
        hostname=opt_string(info, "hostname", where),
    )


@dataclass(slots=True, frozen=True)
class AxeOSAsic:
    asic_model: str
    frequency_options_mhz: tuple[float, ...]
    voltage_options_mv: tuple[float, ...]


def parse_asic(reply: Any) -> AxeOSAsic:
    where = "AxeOS /api/system/asic"
    obj = as_mapping(reply, where)

    def options(key: str) -> tuple[float, ...]:
        if key not in obj:
            return ()
        items = as_list(obj[key], f"{where}: {key}")
        return tuple(number({"v": v}, "v", f"{where}: {key}") for v in items)

    return AxeOSAsic(
        asic_model=opt_string(obj, "ASICModel", where),
        frequency_options_mhz=options("frequencyOptions"),
        voltage_options_mv=options("voltageOptions"),
    )


class AxeOSClient:
    def __init__(self, host: str, port: int = 80, timeout_s: float = 3.0) -> None:
        self.http = JsonHttp(f"http://{host}:{port}", timeout_s)

    async def close(self) -> None:
        await self.http.close()

    async def info(self) -> AxeOSInfo:
        return parse_info(await self.http.request("GET", "/api/system/info"))

    async def asic(self) -> AxeOSAsic:
        return parse_asic(await self.http.request("GET", "/api/system/asic"))

    async def patch_system(self, settings: Mapping[str, Any]) -> None:
        reply = await self.http.request("PATCH", "/api/system", json_body=dict(settings), expect_json=False)
        if isinstance(reply, Mapping) and reply.get("status") not in (None, "success"):
            raise MalformedReply(f"AxeOS PATCH /api/system: status {reply.get('status')!r}")

    async def restart(self) -> None:
        await self.http.request("POST", "/api/system/restart", expect_json=False)

    async def pause(self, pause: bool = True) -> None:
        """POST /api/system/pause|resume (ESP-Miner >= 2.5; older firmware answers 404)."""
        await self.http.request("POST", "/api/system/pause" if pause else "/api/system/resume", expect_json=False)

    async def wait_until_back(
        self, timeout_s: float, clock: Clock = REAL_TIME, poll_s: float = 0.5, down_within_s: float = 5.0
    ) -> tuple[AxeOSInfo, bool]:
        """After POST restart: wait until the API stops answering (the firmware replies first, then reboots; up to
        down_within_s), then until it answers again. Returns (info, went_down); went_down False means it never
        stopped answering within down_within_s. TransportError if it is not back within timeout_s."""
        deadline = clock.now() + timeout_s
        went_down = False
        down_deadline = clock.now() + min(down_within_s, timeout_s)
        while clock.now() < down_deadline:
            try:
                await self.info()
            except ApiError:
                went_down = True
                break
            await clock.sleep(poll_s)
        last: ApiError | None = None
        while clock.now() < deadline:
            try:
                return await self.info(), went_down
            except ApiError as exc:
                last = exc
            await clock.sleep(poll_s)
        raise TransportError(f"AxeOS did not come back within {timeout_s:g} s after restart (last: {last})")


__all__ = ["AxeOSAsic", "AxeOSClient", "AxeOSInfo", "parse_asic", "parse_info"]
