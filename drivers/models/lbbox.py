"""Goldshell LB-Box: Goldshell HTTP (token login, status, settings, devs, restart) + 4028 + LBRY Stratum shares."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..api.cgminer import parse_devs
from ..api.errors import ApiError
from ..api.goldshell import GoldshellClient, GoldshellSettings
from ..api.rpc4028 import RpcClient
from ..device import EnvelopeViolation
from ..events import Source
from .network import NetworkDevice


class LBBoxDevice(NetworkDevice):
    source = Source.HTTP
    _client: GoldshellClient | None = None
    _last_settings: GoldshellSettings | None = None

    def client(self) -> GoldshellClient:
        if self._client is None:
            self._client = GoldshellClient(
                self.spec.host, self.spec.http_port_or(self.data.http_port),
                password=self.spec.password or "123456789", timeout_s=self.spec.timeout_s,
            )
        return self._client

    async def _connect(self) -> None:
        status = await self.client().status()
        settings = await self.client().settings()
        self._last_settings = settings
        self.identity = replace(
            self.identity, serial=settings.mac or self.identity.serial, firmware=status.firmware,
            extra={**self.identity.extra, "type": status.model, "hardware": status.hardware},
        )

    async def _disconnect(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _poll(self) -> dict[str, Any]:
        # Board telemetry from 4028 devs (cheap, no token); the web backend is fragile under load (>15 req/s).
        try:
            tel = parse_devs(await RpcClient(self.spec.host, self.spec.rpc_port_or(self.data.rpc_port),
                                             self.spec.timeout_s).command("devs"))
        except ApiError as exc:
            self.fault(exc.reason, f"4028 devs failed, using /mcb/cgminer: {exc}")
            tel = await self.client().devs()
        settings = await self.client().settings()
        self._last_settings = settings
        if settings.frequency_mhz is not None:
            tel["frequency_hz"] = settings.frequency_mhz * 1e6
        if settings.fan_percent is not None:
            tel["fan_percent"] = settings.fan_percent
        chips = sum(tel.get("chips", []))
        if chips and chips != self.identity.chips:
            self.identity = replace(self.identity, chips=chips)
        return tel

    async def _send_setting(self, setting: str, value: float) -> None:
        settings = await self.client().settings()
        raw = dict(settings.raw)
        if setting == "frequency_mhz":
            # The firmware offers frequencies only as vendor power plans: select the plan with this frequency.
            freqs = [p.get("freq") for p in settings.power_plans]
            if value not in freqs:
                raise EnvelopeViolation(self.spec.device_id, setting, value,
                                        f"not one of the power plans' frequencies {freqs}")
            raw["select"] = freqs.index(value)
        elif setting == "fan_percent":
            raw["fanmode"] = 1  # manual: the firmware ignores fanspeed in auto mode
            raw["fanspeed"] = round(value)
        else:
            await super()._send_setting(setting, value)
            return
        await self.client().put_settings(raw)

    async def _send_restart(self) -> None:
        await self.client().restart()
        self._set_online(False, "restart requested")
