"""Real loopback peers for driver tests: a 4028 RPC server, an AxeOS HTTP server and a Goldshell HTTP server, with
reply shapes as the firmware sends them (field names from protocols.md 1.9, 2.6, 3) and switchable faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

# ---- bmminer (S9) replies --------------------------------------------------------------------------------------


def status(msg: str, code: int = 11) -> list[dict[str, Any]]:
    return [{"STATUS": "S", "When": 1700000000, "Code": code, "Msg": msg, "Description": "bmminer 1.0.0"}]


S9_VERSION = {"STATUS": status("BMMiner versions", 22),
              "VERSION": [{"BMMiner": "2.0.0", "API": "3.1", "Miner": "16.8.1.3", "CompileTime": "Fri Nov 17 2017",
                           "Type": "Antminer S9"}], "id": 1}


def s9_stats(freq: int = 650, chip_t: tuple[int, int, int] = (71, 73, 70), fans: tuple[int, int] = (5880, 6120)) -> dict[str, Any]:
    drv: dict[str, Any] = {
        "STATS": 0, "ID": "BC50", "Elapsed": 3600, "Calls": 0, "Wait": 0.0, "Max": 0.0, "Min": 99999999.0,
        "GHS 5s": "13512.33", "GHS av": 13498.02, "miner_count": 3, "frequency": str(freq), "fan_num": 2,
        "fan1": 0, "fan2": 0, "fan3": fans[0], "fan4": 0, "fan5": 0, "fan6": fans[1], "fan7": 0, "fan8": 0,
        "temp_num": 3, "temp_max": max(chip_t), "Device Hardware%": 0.0021, "no_matching_work": 0,
        "total_rateideal": 13500.0, "total_freqavg": float(freq), "total_acn": 189, "total_rate": 13512.33,
        "miner_version": "16.8.1.3", "miner_id": "801c4d8e4a20881c",
    }
    for slot, ct, bt, rate in zip((6, 7, 8), chip_t, (55, 57, 54), ("4466.53", "4523.10", "4522.70"), strict=True):
        drv.update({f"temp{slot}": bt, f"temp2_{slot}": ct, f"chain_acn{slot}": 63,
                    f"chain_acs{slot}": " oooooooo oooooooo oooooooo oooooooo oooooooo oooooooo oooooooo ooooooo",
                    f"chain_hw{slot}": 12, f"chain_rate{slot}": rate, f"chain_rateideal{slot}": 4500.0,
                    f"freq_avg{slot}": float(freq)})
    return {"STATUS": status("CGMiner stats", 70),
            "STATS": [{"BMMiner": "2.0.0", "Miner": "16.8.1.3", "CompileTime": "Fri Nov 17 2017",
                       "Type": "Antminer S9"}, drv], "id": 1}


S9_SUMMARY = {"STATUS": status("Summary"), "SUMMARY": [{
    "Elapsed": 3600, "GHS 5s": "13512.33", "GHS av": 13498.02, "Found Blocks": 0, "Getworks": 120,
    "Accepted": 4102, "Rejected": 3, "Hardware Errors": 36, "Utility": 68.3, "Discarded": 1100, "Stale": 0,
    "Get Failures": 0, "Local Work": 1000, "Remote Failures": 0, "Network Blocks": 6, "Total MH": 4.86e10,
    "Work Utility": 189000.0, "Difficulty Accepted": 4.2e6, "Difficulty Rejected": 3072.0, "Difficulty Stale": 0.0,
    "Best Share": 123456, "Device Hardware%": 0.0021, "Device Rejected%": 0.07, "Pool Rejected%": 0.07,
    "Pool Stale%": 0.0, "Last getwork": 1700000000}], "id": 1}


def rpc_bytes(obj: Any, quirk: bool = False) -> bytes:
    text = json.dumps(obj, separators=(",", ":"))
    if quirk:  # old bmminer: the two STATS blocks are written back to back without a comma
        text = text.replace("},{", "}{")
    return text.encode() + b"\0"


class FakeRpc:
    """cgminer-style TCP API on 127.0.0.1. `replies[command]` -> bytes; `mode`: ok|close|hang|garbage."""

    def __init__(self, replies: dict[str, bytes]) -> None:
        self.replies = replies
        self.mode = "ok"
        self.requests: list[dict[str, Any]] = []
        self.release = asyncio.Event()  # ends "hang" replies at stop()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.release.set()
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            raw = await reader.read(4096)
            try:
                req = json.loads(raw)
            except ValueError:
                cmd, _, param = raw.decode().partition("|")
                req = {"command": cmd, "parameter": param}
            self.requests.append(req)
            if self.mode == "close":
                return
            if self.mode == "hang":
                await self.release.wait()
                return
            if self.mode == "garbage":
                writer.write(b"\x00\xff\xfe{{{\"STATUS\"\x00")
            else:
                reply = self.replies.get(req["command"])
                writer.write(reply if reply is not None else rpc_bytes(
                    {"STATUS": [{"STATUS": "E", "Code": 14, "Msg": "Invalid command"}], "id": 1}))
            await writer.drain()
        finally:
            writer.close()


# ---- AxeOS (LV06) ----------------------------------------------------------------------------------------------


def axeos_info(freq: float = 485, core_mv: int = 1200, fan: int = 60, temp: float = 58.25) -> dict[str, Any]:
    return {
        "power": 13.1, "voltage": 12050.0, "current": 1087.5, "temp": temp, "temp2": -1, "vrTemp": 52,
        "maxPower": 25, "nominalVoltage": 12, "hashRate": 502.73, "hashRate_1m": 498.1, "hashRate_10m": 500.2,
        "hashRate_1h": 501.0, "expectedHashrate": 520.1, "errorPercentage": 0.31, "bestDiff": "4.29M",
        "bestSessionDiff": "1.2M", "poolDifficulty": 1000, "isUsingFallbackStratum": 0, "isPSRAMAvailable": 1,
        "freeHeap": 214000, "coreVoltage": core_mv, "coreVoltageActual": core_mv - 9, "frequency": freq,
        "ssid": "lab", "macAddr": "AA:BB:CC:00:11:22", "hostname": "lv06", "wifiStatus": "Connected!",
        "wifiRSSI": -51, "apEnabled": 0, "sharesAccepted": 1203, "sharesRejected": 4,
        "sharesRejectedReasons": [{"message": "Above target", "count": 4}], "uptimeSeconds": 86400,
        "smallCoreCount": 894, "ASICModel": "BM1366", "stratumURL": "127.0.0.1", "stratumPort": 3333,
        "stratumUser": "bc1q.lv06", "version": "v2.1.8", "idfVersion": "v5.1.2", "boardVersion": "301",
        "minerModel": "Lucky Miner LV06", "runningPartition": "ota_0", "overheat_mode": 0, "autofanspeed": 0,
        "fanspeed": fan, "temptarget": 60, "fanrpm": 4105, "fan2rpm": 0,
    }


class FakeAxeOS:
    """AxeOS HTTP API: GET info/asic, PATCH system, POST restart (unreachable for `reboot_s`); faults by mode."""

    def __init__(self) -> None:
        self.state = {"frequency": 485, "coreVoltage": 1200, "fanspeed": 60, "temp": 58.25}
        self.mode = "ok"  # ok | 500 | hang | garbage | missing
        self.patches: list[dict[str, Any]] = []
        self.restarts = 0
        self.paused = False
        self.down_until = 0.0
        self.reboot_s = 0.4
        self.release = asyncio.Event()  # ends "hang" replies at stop()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/api/system/info", self._info)
        app.router.add_get("/api/system/asic", self._asic)
        app.router.add_patch("/api/system", self._patch)
        app.router.add_post("/api/system/restart", self._restart)
        app.router.add_post("/api/system/pause", self._pause)
        app.router.add_post("/api/system/resume", self._resume)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self.release.set()
        if self._runner:
            await self._runner.cleanup()

    @web.middleware
    async def _faults(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        if loop.time() < self.down_until:  # rebooting: drop the connection like a host that is away
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPServiceUnavailable()
        if self.mode == "500":
            raise web.HTTPInternalServerError(text="esp_http_server: internal error")
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "garbage":
            return web.Response(body=b"\x89PNG\r\n\x1a\n garbage", content_type="application/json")
        return await handler(request)

    async def _info(self, request: web.Request) -> web.Response:
        info = axeos_info(self.state["frequency"], int(self.state["coreVoltage"]), int(self.state["fanspeed"]),
                          self.state["temp"])
        if self.mode == "missing":
            del info["hashRate"]
        return web.json_response(info)

    async def _asic(self, request: web.Request) -> web.Response:
        return web.json_response({"ASICModel": "BM1366", "deviceModel": "LV06", "swarmColor": "purple",
                                  "asicCount": 1, "defaultFrequency": 485,
                                  "frequencyOptions": [400, 425, 450, 475, 485, 500, 525, 550, 575],
                                  "defaultVoltage": 1200, "voltageOptions": [1100, 1150, 1200, 1250, 1300]})

    async def _patch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.patches.append(body)
        for key in ("frequency", "coreVoltage", "fanspeed"):
            if key in body:
                self.state[key] = body[key]
        return web.Response(status=200)

    async def _pause(self, request: web.Request) -> web.Response:
        self.paused = True
        return web.json_response({"status": "success"})

    async def _resume(self, request: web.Request) -> web.Response:
        self.paused = False
        return web.json_response({"status": "success"})

    async def _restart(self, request: web.Request) -> web.Response:
        self.restarts += 1
        self.down_until = asyncio.get_running_loop().time() + self.reboot_s
        return web.Response(text="System will restart shortly.")


# ---- Goldshell (LB-Box) ----------------------------------------------------------------------------------------

LB_DEVS = {"STATUS": [{"STATUS": "S", "Code": 9, "Msg": "1 PGA(s)", "Description": "cgminer 4.11.1"}],
           "DEVS": [{"PGA": 0, "ID": 0, "Name": "LBBox", "Enabled": "Y", "Status": "Alive", "Temperature": 61.0,
                     "MHS av": 175012.5, "MHS 20s": 176230.1, "Accepted": 320, "Rejected": 1,
                     "Hardware Errors": 7, "tstemp-0": 61.0, "tstemp-1": 58.0, "tstemp-2": 45.0, "fanspeed": 3150,
                     "chips-nr": 8}]}


class FakeGoldshell:
    def __init__(self, password: str = "123456789") -> None:
        self.password = password
        self.tokens: set[str] = set()
        self.logins = 0
        self.settings: dict[str, Any] = {
            "name": "c4:82:e1:00:aa:01", "version": "2.2.5", "fanspeed": 60, "select": 1,
            "powerplans": [{"level": 0, "info": "low", "freq": 400}, {"level": 1, "info": "normal", "freq": 500},
                           {"level": 2, "info": "high", "freq": 550}],
        }
        self.puts: list[dict[str, Any]] = []
        self.mode = "ok"
        self.restarts = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/user/login", self._login)
        app.router.add_get("/mcb/status", self._status)
        app.router.add_get("/mcb/setting", self._get_setting)
        app.router.add_put("/mcb/setting", self._put_setting)
        app.router.add_get("/mcb/cgminer", self._cgminer)
        app.router.add_post("/mcb/restart", self._restart)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def _authorized(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise web.HTTPUnauthorized(text="token invalid")
        if self.mode == "500":
            raise web.HTTPInternalServerError(text="backend crashed")

    async def _login(self, request: web.Request) -> web.Response:
        if request.query.get("username") != "admin" or request.query.get("password") != self.password:
            return web.json_response({"error": "login failed"})
        self.logins += 1
        token = f"tok{self.logins}"
        self.tokens.add(token)
        return web.json_response({"JWT Token": token})

    async def _status(self, request: web.Request) -> web.Response:
        self._authorized(request)
        return web.json_response({"model": "Goldshell-LBBox", "firmware": "2.2.5", "hardware": "GS-LB-V1",
                                  "algo": "lbry"})

    async def _get_setting(self, request: web.Request) -> web.Response:
        self._authorized(request)
        return web.json_response(self.settings)

    async def _put_setting(self, request: web.Request) -> web.Response:
        self._authorized(request)
        body = await request.json()
        self.puts.append(body)
        self.settings = body
        return web.json_response({"status": "ok"})

    async def _cgminer(self, request: web.Request) -> web.Response:
        self._authorized(request)
        return web.json_response({"STATUS": LB_DEVS["STATUS"], "data": LB_DEVS["DEVS"]})

    async def _restart(self, request: web.Request) -> web.Response:
        self._authorized(request)
        self.restarts += 1
        return web.json_response({"status": "ok"})
