"""Simulated Goldshell LB-Box: LBRY Stratum client, Goldshell "cloud-box" HTTP API and a cgminer-style 4028 API.

HTTP (protocols.md 3; shapes as pyasic's Goldshell backend reads them): GET /user/login?username=admin&password=
<pw>&cipher=false -> {"JWT Token": ...}; then with "Authorization: Bearer <token>": GET /mcb/status,
GET/PUT /mcb/setting (power plans select the frequency; fan mode/speed), GET /mcb/pools,
GET /mcb/cgminer?cgminercmd=devs (per-board MHS 20s, tstemp-0 chip / tstemp-2 board, fanspeed), POST
/mcb/restart. The board's internals are not public: chip count and cores are invented (params.py).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

from .http_server import HttpServer, fault_middleware
from .miner_base import Server, SimMiner, SimStratumClient
from .params import LBBOX
from .rpc_server import RpcServer, status

DEFAULT_PASSWORD = "123456789"
CIPHER_PASSWORD = "bbad7537f4c8b6ea31eea0b3d760e257"  # the hex form pyasic sends with cipher=true
POWER_PLANS: tuple[dict[str, Any], ...] = ({"level": 0, "info": "Normal", "freq": 500}, {"level": 1, "info": "Low Power", "freq": 400},
               {"level": 2, "info": "High Performance", "freq": 550})
DESCRIPTION = "cgminer 4.10.0"


class SimLBBox(SimMiner):
    spec = LBBOX
    firmware_version = "2.2.5"
    lbry = True
    hw_ticket_diff = 64.0

    def __init__(self, *args: Any, web_password: str = DEFAULT_PASSWORD, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.web_password = web_password
        self.tokens: set[str] = set()
        self.plan = 0

    def restart(self) -> None:
        self.tokens.clear()  # a reboot forgets the web sessions
        super().restart()

    def make_servers(self) -> dict[str, Server]:
        handlers = {"summary": self.rpc_summary, "devs": self.rpc_devs, "devdetails": self.rpc_devdetails,
                    "stats": self.rpc_stats, "pools": self.rpc_pools, "version": self.rpc_version}
        return {"http": HttpServer(lambda: make_goldshell_app(self)),
                "rpc": RpcServer(handlers, DESCRIPTION, self.faults)}

    def make_client(self, host: str, port: int) -> SimStratumClient:
        return SimStratumClient(host, port, self.user, self.password, user_agent="cgminer/4.10.0",
                                version_rolling=None, clock=self.clock, auto_reconnect=True)

    # ---- shared reply pieces -------------------------------------------------------------------------
    def board_devs(self) -> list[dict[str, Any]]:
        snap, c = self.snapshot, self.firmware.counters
        return [{"ASC": 0, "ID": 0, "Name": "LB-Box", "Enabled": "Y",
                 "Status": "Alive" if snap.hashing and "o" in snap.chain_chips_ok[0] else "Dead",
                 "MHS 20s": round(snap.hashrate_5s_hs / 1e6, 2), "MHS av": round(snap.hashrate_av_hs / 1e6, 2),
                 "tstemp-0": snap.chain_chip_c[0], "tstemp-1": snap.chain_chip_c[0],
                 "tstemp-2": snap.chain_board_c[0], "fanspeed": snap.fan_rpm[0],
                 "Accepted": c.accepted, "Rejected": c.rejected, "Hardware Errors": snap.hw_errors,
                 "freq": round(snap.frequency_hz / 1e6), "chips-nr": snap.chain_chips_ok[0].count("o"),
                 "Device Elapsed": int(snap.uptime_s)}]

    def rpc_version(self, _p: str | None) -> dict[str, Any]:
        return {"STATUS": status(22, "CGMiner versions", DESCRIPTION),
                "VERSION": [{"CGMiner": "4.10.0", "API": "3.7", "Miner": "LB-Box",
                             "CompileTime": f"Goldshell {self.firmware_version}", "Type": "LB-Box"}]}

    def rpc_summary(self, _p: str | None) -> dict[str, Any]:
        snap, c = self.snapshot, self.firmware.counters
        return {"STATUS": status(11, "Summary", DESCRIPTION), "SUMMARY": [{
            "Elapsed": int(snap.uptime_s), "MHS av": round(snap.hashrate_av_hs / 1e6, 2),
            "MHS 20s": round(snap.hashrate_5s_hs / 1e6, 2), "Accepted": c.accepted, "Rejected": c.rejected,
            "Hardware Errors": snap.hw_errors, "Difficulty Accepted": c.difficulty_accepted,
            "Best Share": int(c.best_difficulty)}]}

    def rpc_devs(self, _p: str | None) -> dict[str, Any]:
        return {"STATUS": status(9, "1 ASC(s)", DESCRIPTION), "DEVS": self.board_devs()}

    def rpc_devdetails(self, _p: str | None) -> dict[str, Any]:
        return {"STATUS": status(69, "Device Details", DESCRIPTION),
                "DEVS": [{"DEVDETAILS": 0, "ID": 0, "Name": "LB-Box", "Driver": "gsd",
                          "chips-nr": self.spec.chips_per_chain, "Model": "LB-Box"}]}

    def rpc_stats(self, _p: str | None) -> dict[str, Any]:
        snap = self.snapshot
        d: dict[str, Any] = {"STATS": 0, "ID": "GSD0", "Elapsed": int(snap.uptime_s), "fan_num": 2}
        for i, rpm in enumerate(snap.fan_rpm, start=1):
            d[f"fan{i}"] = rpm
        d["temp1"] = snap.chain_board_c[0]
        d["temp2_1"] = snap.chain_chip_c[0]
        return {"STATUS": status(70, "CGMiner stats", DESCRIPTION),
                "STATS": [{"CGMiner": "4.10.0", "Miner": "LB-Box", "Type": "LB-Box"}, d]}

    def rpc_pools(self, _p: str | None) -> dict[str, Any]:
        c = self.firmware.counters
        pools = [{"POOL": 0, "URL": self.pool_url, "Status": "Alive" if self.stratum_active else "Dead",
                  "Stratum Active": self.stratum_active, "User": self.user, "Accepted": c.accepted,
                  "Rejected": c.rejected, "Get Failures": 0, "Remote Failures": 0,
                  "Diff": f"{c.pool_difficulty:g}"}] if self.stratum is not None else []
        return {"STATUS": status(7, f"{len(pools)} Pool(s)", DESCRIPTION), "POOLS": pools}

    def status_info(self) -> dict[str, Any]:
        snap = self.snapshot
        return {"model": "LB-Box", "firmware": self.firmware_version, "hardware": "GS-LBBOX-V1.0",
                "sn": self.serial, "mac": self.mac, "uptime": int(snap.uptime_s), "algo": "lbry"}

    def setting_info(self) -> dict[str, Any]:
        p = self.physics
        return {"name": self.mac, "select": self.plan,
                "powerplans": [{"level": pl["level"], "info": pl["info"], "freq": pl["freq"]} for pl in POWER_PLANS],
                "fanmode": 0 if p.fan_auto else 1, "fanspeed": round(p.fan_percent),
                "version": self.firmware_version}

    def apply_setting(self, body: dict[str, Any]) -> None:
        select = body.get("select", self.plan)
        if not isinstance(select, int) or isinstance(select, bool) or not 0 <= select < len(POWER_PLANS):
            raise ValueError(f"select must be a power plan index 0..{len(POWER_PLANS) - 1}, got {select!r}")
        fanmode = body.get("fanmode", 0 if self.physics.fan_auto else 1)
        fanspeed = body.get("fanspeed", self.physics.fan_percent)
        if fanmode not in (0, 1):
            raise ValueError(f"fanmode must be 0 (auto) or 1 (manual), got {fanmode!r}")
        if isinstance(fanspeed, bool) or not isinstance(fanspeed, (int, float)) or not 0 <= fanspeed <= 100:
            raise ValueError(f"fanspeed must be 0..100 %, got {fanspeed!r}")
        self.plan = select
        self.set_frequency_mhz(float(POWER_PLANS[select]["freq"]))
        self.set_fan_percent(None if fanmode == 0 else float(fanspeed))


def make_goldshell_app(dev: SimLBBox) -> web.Application:
    app = web.Application(middlewares=[fault_middleware(dev.faults)])

    def authorized(request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in dev.tokens

    def denied() -> web.Response:
        return web.json_response({"error": "unauthorized"}, status=401)

    async def root(_r: web.Request) -> web.Response:
        return web.Response(text="<html><title>cloud-box</title><body>Goldshell LB-Box</body></html>",
                            content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        user, pw = request.query.get("username", ""), request.query.get("password", "")
        cipher = request.query.get("cipher", "false") == "true"
        ok = user == "admin" and (pw == CIPHER_PASSWORD if cipher else pw == dev.web_password)
        if not ok:
            return web.json_response({"error": "wrong username or password"}, status=401)
        token = secrets.token_hex(16)
        dev.tokens.add(token)
        return web.json_response({"JWT Token": token})

    async def logout(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        dev.tokens.discard(auth[7:])
        return web.json_response({"status": "ok"})

    async def mcb_status(request: web.Request) -> web.Response:
        return web.json_response(dev.status_info()) if authorized(request) else denied()

    async def mcb_setting(request: web.Request) -> web.Response:
        if not authorized(request):
            return denied()
        if request.method == "PUT":
            try:
                body = json.loads(await request.read() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                dev.apply_setting(body)
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(dev.setting_info())

    async def mcb_pools(request: web.Request) -> web.Response:
        if not authorized(request):
            return denied()
        # a bare array, as Box/X5 firmware answers (see asicrc.drivers.api.goldshell.parse_pools)
        return web.json_response([{"url": dev.pool_url, "legal": True, "active": dev.stratum_active, "dragid": 0,
                                   "user": dev.user, "pool-priority": 0, "pass": dev.password}])

    async def mcb_cgminer(request: web.Request) -> web.Response:
        if not authorized(request):
            return denied()
        cmd = request.query.get("cgminercmd", "")
        handler = {"devs": dev.rpc_devs, "summary": dev.rpc_summary, "pools": dev.rpc_pools}.get(cmd)
        if handler is None:
            return web.json_response({"error": f"unsupported cgminercmd {cmd!r}"}, status=400)
        reply = handler(None)
        return web.json_response({"STATUS": reply["STATUS"], "data": reply.get("DEVS", reply.get("SUMMARY",
                                                                                         reply.get("POOLS")))})

    async def mcb_restart(request: web.Request) -> web.Response:
        if not authorized(request):
            return denied()
        dev.restart()
        return web.json_response({"status": "restarting"})

    app.router.add_get("/", root)
    app.router.add_get("/user/login", login)
    app.router.add_get("/user/logout", logout)
    app.router.add_get("/mcb/status", mcb_status)
    app.router.add_route("*", "/mcb/setting", mcb_setting)
    app.router.add_get("/mcb/pools", mcb_pools)
    app.router.add_get("/mcb/cgminer", mcb_cgminer)
    app.router.add_post("/mcb/restart", mcb_restart)
    return app
