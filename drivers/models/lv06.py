"""Lucky Miner LV06 (and Bitaxe-class AxeOS devices): AxeOS HTTP + shares from our Stratum server."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from ..api.axeos import AxeOSClient
from ..api.errors import ApiError, HttpStatusError
from ..events import Kind, Source
from .base import SETTING_TELEMETRY
from .network import NetworkDevice

# setting -> AxeOS PATCH /api/system key (values are sent as integers, as AxeOS' own UI does)
PATCH_KEYS = {"frequency_mhz": "frequency", "core_voltage_mv": "coreVoltage", "fan_percent": "fanspeed"}


class LV06Device(NetworkDevice):
    source = Source.HTTP
    # core voltage steps are checked against the setpoint (coreVoltage), not the sensed core_voltage_v
    setting_sources: ClassVar[dict[str, tuple[str, float]]] = {
        k: v for k, v in SETTING_TELEMETRY.items() if k != "core_voltage_mv"
    }
    _client: AxeOSClient | None = None

    def client(self) -> AxeOSClient:
        if self._client is None:
            self._client = AxeOSClient(self.spec.host, self.spec.http_port_or(self.data.http_port), self.spec.timeout_s)
        return self._client

    async def _connect(self) -> None:
        info = await self.client().info()
        extra = {**self.identity.extra, "asic_model": info.asic_model, "hostname": info.hostname}
        try:
            asic = await self.client().asic()
            extra["frequency_options_mhz"] = list(asic.frequency_options_mhz)
            extra["voltage_options_mv"] = list(asic.voltage_options_mv)
        except ApiError as exc:  # older firmware has no /asic; identity does not depend on it
            self.fault(exc.reason, f"/api/system/asic: {exc}")
        self.identity = replace(
            self.identity, serial=info.mac or self.identity.serial, firmware=info.firmware,
            extra={**extra, "board": info.model},
        )

    async def _disconnect(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _poll(self) -> dict[str, Any]:
        info = await self.client().info()
        if info.core_voltage_mv is not None:
            self._settings["core_voltage_mv"] = info.core_voltage_mv  # the setpoint, not the sensed value
        return info.telemetry

    async def _send_setting(self, setting: str, value: float) -> None:
        if setting not in PATCH_KEYS:
            await super()._send_setting(setting, value)
            return
        body: dict[str, Any] = {PATCH_KEYS[setting]: round(value)}
        if setting == "fan_percent":
            body["autofanspeed"] = 0  # a manual speed only holds with the firmware's auto-fan off
        await self.client().patch_system(body)

    async def _pause_hashing(self, pause: bool) -> str:
        try:
            await self.client().pause(pause)
        except HttpStatusError as exc:
            if exc.status in (404, 405):
                return "firmware has no pause endpoint: parked at the lowest frequency instead" if pause else ""
            raise
        return "mining paused" if pause else "mining resumed"

    async def _send_restart(self) -> None:
        """POST restart, then wait (up to restart_timeout_s) until the API answers again; both are events."""
        await self.client().restart()
        info, went_down = await self.client().wait_until_back(
            self.spec.restart_timeout_s, self.clock, poll_s=min(0.5, self.spec.poll_interval_s)
        )
        if went_down:
            self._set_online(False, "rebooting")
        self._set_online(True)
        self.publish(Kind.STATE, {"state": "restarted", "firmware": info.firmware, "went_down": went_down})
