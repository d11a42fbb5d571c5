"""Simulated Lucky Miner LV06: one BM1366, ESP-Miner-style Stratum client and the AxeOS HTTP API.

HTTP (protocols.md 1.9): GET /api/system/info (AxeOS field names and units: hashRate GH/s, temp/vrTemp degC,
power W, voltage/coreVoltage mV, current mA, frequency MHz, fanrpm, fanspeed %), GET /api/system/asic,
PATCH /api/system {frequency, coreVoltage, fanspeed, autofanspeed, ...}, POST /api/system/restart (the device
then drops off the network for spec.reboot_s of clock time). Frequency, core voltage and fan changes apply at
once (newer AxeOS applies them live; settings that need a restart on ESP-Miner are only stored).
The root page says "Lucky miner" (what pyasic's MinerFactory looks for).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .faults import FaultState
from .http_server import HttpServer, fault_middleware
from .miner_base import Server, SimMiner, SimStratumClient
from .params import LV06

FREQUENCY_OPTIONS_MHZ = (400, 425, 450, 475, 485, 500, 525, 550, 575, 600)
VOLTAGE_OPTIONS_MV = (1100, 1150, 1200, 1250, 1300)
PATCHABLE = {"frequency", "coreVoltage", "fanspeed", "autofanspeed", "temptarget", "hostname", "stratumURL",
             "stratumPort", "stratumUser", "stratumPassword", "fallbackStratumURL", "fallbackStratumPort",
             "fallbackStratumUser", "fallbackStratumPassword", "overheat_mode", "ssid", "wifiPass",
             "flipscreen", "invertscreen", "displayTimeout", "statsFrequency"}


def human_diff(value: float) -> str:
    """AxeOS shows difficulties as e.g. '1.23M'."""
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.2f}"


class SimLV06(SimMiner):
    spec = LV06
    firmware_version = "v2.1.10"
    hw_ticket_diff = 256.0
    input_voltage_v = 12.0
    overheat_c = 75.0  # ESP-Miner-like overheat mode (chip temperature limit)
    overheat_hysteresis_k = 20.0

    def __init__(self, *args: Any, suggest_difficulty: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suggest_difficulty = suggest_difficulty
        self.settings: dict[str, Any] = {"hostname": f"lv06-{self.serial[-6:]}", "autofanspeed": 1,
                                         "temptarget": int(self.spec.fan_target_c), "overheat_mode": 0}

    def make_servers(self) -> dict[str, Server]:
        return {"http": HttpServer(lambda: make_axeos_app(self, self.faults))}

    def make_client(self, host: str, port: int) -> SimStratumClient:
        # ESP-Miner order: configure (mask ffffffff) -> subscribe -> authorize -> suggest_difficulty ->
        # extranonce.subscribe
        return SimStratumClient(host, port, self.user, self.password, user_agent="bitaxe/BM1366/v2.1.10",
                                version_rolling=0xFFFFFFFF, suggest_difficulty=self.suggest_difficulty,
                                extranonce_subscribe=True, clock=self.clock, auto_reconnect=True)

    def system_info(self) -> dict[str, Any]:
        snap, c, p = self.snapshot, self.firmware.counters, self.physics
        power = snap.power_w
        stratum_host, stratum_port = self.stratum if self.stratum is not None else ("", 0)
        return {
            "power": round(power, 2), "voltage": round(snap.input_voltage_v * 1000.0, 1),
            "current": round(power / snap.input_voltage_v * 1000.0, 1), "temp": round(snap.chip_temp_avg_c, 4),
            "temp2": -1, "vrTemp": round(snap.vr_temp_c), "maxPower": 25, "nominalVoltage": 12,
            "hashRate": round(snap.hashrate_5s_hs / 1e9, 3), "hashRate_1m": round(snap.hashrate_1m_hs / 1e9, 3),
            "hashRate_10m": round(snap.hashrate_av_hs / 1e9, 3), "hashRate_1h": round(snap.hashrate_av_hs / 1e9, 3),
            "expectedHashrate": round(snap.expected_hashrate_hs / 1e9, 3),
            "errorPercentage": round(100.0 * snap.error_fraction, 3),
            "bestDiff": human_diff(c.best_difficulty), "bestSessionDiff": human_diff(c.best_difficulty),
            "poolDifficulty": c.pool_difficulty, "isUsingFallbackStratum": 0, "isPSRAMAvailable": 1,
            "freeHeap": 8_000_000, "coreVoltage": round(float(p.voltage_v.mean()) * 1000.0),
            "coreVoltageActual": round(float(p.voltage_v.mean()) * 1000.0 * 0.985),
            "frequency": round(snap.frequency_hz / 1e6, 2), "ssid": "sim", "macAddr": self.mac,
            "hostname": self.settings["hostname"], "wifiStatus": "Connected!", "wifiRSSI": -52, "apEnabled": 0,
            "sharesAccepted": c.accepted, "sharesRejected": c.rejected,
            "sharesRejectedReasons": [{"message": k, "count": v} for k, v in c.reject_reasons.items()],
            "uptimeSeconds": int(snap.uptime_s), "smallCoreCount": self.spec.cores_per_chip,
            "ASICModel": "BM1366", "asicCount": self.spec.chips_per_chain, "minerModel": "LV06",
            "deviceModel": "LV06", "stratumURL": stratum_host, "stratumPort": stratum_port,
            "stratumUser": self.user, "stratumSuggestedDifficulty": self.suggest_difficulty or 1000,
            "fallbackStratumURL": "", "fallbackStratumPort": 0, "fallbackStratumUser": "",
            "version": self.firmware_version, "axeOSVersion": self.firmware_version, "idfVersion": "v5.1.2",
            "boardVersion": "301", "runningPartition": "factory",
            "overheat_mode": 1 if self.state == "overheat" else self.settings["overheat_mode"],
            "autofanspeed": 1 if p.fan_auto else 0, "fanspeed": round(p.fan_percent),
            "temptarget": self.settings["temptarget"], "fanrpm": snap.fan_rpm[0], "fan2rpm": 0,
            "miningPaused": not p.hashing, "serialNumber": self.serial,
        }

    def asic_info(self) -> dict[str, Any]:
        return {"ASICModel": "BM1366", "deviceModel": "LV06", "swarmColor": "purple", "asicCount": 1,
                "defaultFrequency": int(self.spec.freq_hz / 1e6), "frequencyOptions": list(FREQUENCY_OPTIONS_MHZ),
                "defaultVoltage": int(self.spec.voltage_v * 1000), "voltageOptions": list(VOLTAGE_OPTIONS_MV)}

    def apply_settings(self, body: dict[str, Any]) -> None:
        """PATCH /api/system: validate everything first, then apply (a bad field changes nothing)."""
        unknown = sorted(set(body) - PATCHABLE)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        numeric = {k: body[k] for k in ("frequency", "coreVoltage", "fanspeed", "autofanspeed", "temptarget")
                   if k in body}
        for key, value in numeric.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{key} must be a number, got {value!r}")
        if "frequency" in numeric and not 50 <= numeric["frequency"] <= 1000:
            raise ValueError(f"frequency must be 50..1000 MHz, got {numeric['frequency']}")
        if "coreVoltage" in numeric and not 700 <= numeric["coreVoltage"] <= 1500:
            raise ValueError(f"coreVoltage must be 700..1500 mV, got {numeric['coreVoltage']}")
        if "fanspeed" in numeric and not 0 <= numeric["fanspeed"] <= 100:
            raise ValueError(f"fanspeed must be 0..100 %, got {numeric['fanspeed']}")
        if "frequency" in numeric:
            self.set_frequency_mhz(float(numeric["frequency"]))
        if "coreVoltage" in numeric:
            self.set_core_voltage_mv(float(numeric["coreVoltage"]))
        if "autofanspeed" in numeric:
            self.set_fan_percent(None if numeric["autofanspeed"] else self.physics.fan_percent)
        if "fanspeed" in numeric and not body.get("autofanspeed", 0):
            self.set_fan_percent(float(numeric["fanspeed"]))
        for other in body.keys() - numeric.keys():
            self.settings[other] = body[other]
        if "temptarget" in numeric:
            self.settings["temptarget"] = int(numeric["temptarget"])


def make_axeos_app(dev: SimLV06, faults: FaultState) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(faults)])

    async def root(_request: web.Request) -> web.Response:
        return web.Response(text="<html><head><title>Lucky miner</title></head><body>AxeOS</body></html>",
                            content_type="text/html")

    async def info(_request: web.Request) -> web.Response:
        return web.json_response(dev.system_info())

    async def asic(_request: web.Request) -> web.Response:
        return web.json_response(dev.asic_info())

    async def patch(request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            dev.apply_settings(body)
        except ValueError as exc:
            return web.json_response({"status": "error", "message": str(exc)}, status=400)
        return web.json_response({"status": "success", "message": "Settings updated"})

    async def restart(_request: web.Request) -> web.Response:
        dev.restart()
        return web.Response(text="System will restart shortly.")

    app.router.add_get("/", root)
    app.router.add_get("/api/system/info", info)
    app.router.add_get("/api/system/asic", asic)
    app.router.add_patch("/api/system", patch)
    app.router.add_post("/api/system/restart", restart)
    return app
