"""Goldshell "cloud-box" HTTP API (LB-Box and the other Box models): token login, status, settings, devs, restart.

Login: GET /user/login?username=admin&password=<pw>&cipher=false -> {"JWT Token": "..."}; every other call sends
`Authorization: Bearer <token>`. A 401 means the token expired: log in again once and retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .cgminer import parse_devs
from .errors import HttpStatusError, MalformedReply
from .fields import as_list, as_mapping, opt_number, opt_string
from .http import JsonHttp

DEFAULT_PASSWORD = "123456789"  # factory web password (pyasic, owners' manuals)


@dataclass(slots=True, frozen=True)
class GoldshellStatus:
    model: str
    firmware: str
    hardware: str


def parse_status(reply: Any) -> GoldshellStatus:
    where = "Goldshell /mcb/status"
    obj = as_mapping(reply, where)
    model = opt_string(obj, "model", where)
    if not model:
        raise MalformedReply(f"{where}: missing field 'model'")
    return GoldshellStatus(
        model=model, firmware=opt_string(obj, "firmware", where), hardware=opt_string(obj, "hardware", where)
    )


@dataclass(slots=True, frozen=True)
class GoldshellSettings:
    raw: dict[str, Any]  # PUT back with changes: the firmware expects the whole object
    mac: str
    fan_percent: float | None
    power_plans: tuple[dict[str, Any], ...]
    selected_plan: int | None

    @property
    def frequency_mhz(self) -> float | None:
        if self.selected_plan is None or not 0 <= self.selected_plan < len(self.power_plans):
            return None
        freq = self.power_plans[self.selected_plan].get("freq")
        return float(freq) if isinstance(freq, (int, float)) and not isinstance(freq, bool) else None


def parse_settings(reply: Any) -> GoldshellSettings:
    where = "Goldshell /mcb/setting"
    obj = dict(as_mapping(reply, where))
    plans_raw = as_list(obj.get("powerplans", []), f"{where}: powerplans")
    plans = tuple(dict(as_mapping(p, f"{where}: powerplans[{i}]")) for i, p in enumerate(plans_raw))
    select = opt_number(obj, "select", where)
    fan = opt_number(obj, "fanspeed", where)
    return GoldshellSettings(
        raw=obj, mac=opt_string(obj, "name", where), fan_percent=fan, power_plans=plans,
        selected_plan=int(select) if select is not None else None,
    )


@dataclass(slots=True, frozen=True)
class GoldshellPool:
    url: str
    user: str
    active: bool
    priority: int


def parse_pools(reply: Any) -> list[GoldshellPool]:
    """GET /mcb/pools. The Box/X5 firmware answers a bare JSON array, one object per pool:
    ``[{"url", "user", "pass", "legal", "active", "dragid", "pool-priority"}, ...]`` (captures of a CK5 on
    firmware 2.0.1 and pool-switching tools that index ``res.data[0]`` agree). The Byte firmware wraps groups
    instead, ``{"groups": [{"pools": [...]}]}``; that shape is read too. pyasic 0.79's ``get_config`` expects
    ``{"pools": [...]}`` and fails on the array, although its own ``send_config`` iterates it as one."""
    where = "Goldshell /mcb/pools"
    if isinstance(reply, Mapping) and "groups" in reply:
        items: list[Any] = []
        for i, group in enumerate(as_list(reply["groups"], f"{where}: groups")):
            items += as_list(as_mapping(group, f"{where}: groups[{i}]").get("pools", []), f"{where}: groups[{i}]")
    else:
        items = as_list(reply, where)
    pools = []
    for i, item in enumerate(items):
        p = as_mapping(item, f"{where}[{i}]")
        priority = opt_number(p, "pool-priority", f"{where}[{i}]")
        pools.append(GoldshellPool(url=opt_string(p, "url", f"{where}[{i}]"), user=opt_string(p, "user", f"{where}[{i}]"),
                                   active=p.get("active") is True, priority=int(priority if priority is not None else i)))
    return pools


class GoldshellClient:
    def __init__(self, host: str, port: int = 80, password: str = DEFAULT_PASSWORD, timeout_s: float = 3.0) -> None:
        self.http = JsonHttp(f"http://{host}:{port}", timeout_s)
        self.password = password
        self.token: str | None = None

    async def close(self) -> None:
        await self.http.close()

    async def login(self) -> str:
        reply = await self.http.request(
            "GET", "/user/login", params={"username": "admin", "password": self.password, "cipher": "false"}
        )
        obj = as_mapping(reply, "Goldshell /user/login")
        token = obj.get("JWT Token")
        if not isinstance(token, str) or not token:
            raise MalformedReply("Goldshell /user/login: no 'JWT Token' in reply (wrong password?)")
        self.token = token
        return token

    async def _authed(self, method: str, path: str, **kw: Any) -> Any:
        if self.token is None:
            await self.login()
        try:
            return await self.http.request(method, path, headers={"Authorization": f"Bearer {self.token}"}, **kw)
        except HttpStatusError as exc:
            if exc.status != 401:
                raise
        await self.login()  # token expired: one fresh login, then the error (if any) stands
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {self.token}"}, **kw)

    async def status(self) -> GoldshellStatus:
        return parse_status(await self._authed("GET", "/mcb/status"))

    async def settings(self) -> GoldshellSettings:
        return parse_settings(await self._authed("GET", "/mcb/setting"))

    async def pools(self) -> list[GoldshellPool]:
        return parse_pools(await self._authed("GET", "/mcb/pools"))

    async def put_settings(self, settings: Mapping[str, Any]) -> None:
        await self._authed("PUT", "/mcb/setting", json_body=dict(settings), expect_json=False)

    async def devs(self) -> dict[str, Any]:
        reply = as_mapping(await self._authed("GET", "/mcb/cgminer", params={"cgminercmd": "devs"}),
                           "Goldshell /mcb/cgminer?cgminercmd=devs")
        if "DEVS" not in reply and "data" in reply:  # the web backend wraps the cgminer list as "data"
            reply = {**reply, "DEVS": reply["data"]}
        return parse_devs(reply)

    async def restart(self) -> None:
        await self._authed("POST", "/mcb/restart", expect_json=False)
