"""Identify what answers at HOST[:PORT] (cgminer 4028 `version`, AxeOS, Goldshell) and print its
model and firmware (the `asicrc probe` command is cli_probe.py). Without PORT the standard ports are tried (4028 for RPC, 80 for HTTP); with PORT every protocol
is tried on that port. Each probe is independent, so one hanging service cannot hide another.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from .api.axeos import AxeOSClient
from .api.cgminer import parse_version
from .api.errors import ApiError
from .api.goldshell import DEFAULT_PASSWORD, GoldshellClient
from .api.rpc4028 import rpc_request


@dataclass(slots=True)
class Finding:
    protocol: str  # "rpc4028" | "axeos" | "goldshell"
    port: int
    model: str  # vendor model string
    firmware: str
    asicrc_model: str  # the create_device model to use ("" if not one asicrc drives)
    detail: dict[str, Any]


def parse_target(target: str) -> tuple[str, int | None]:
    host, sep, port_text = target.rpartition(":")
    if not sep:
        if not target.strip():
            raise ValueError("bad target '': expected HOST or HOST:PORT with PORT in 1..65535")
        return target, None
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad target {target!r}: expected HOST or HOST:PORT with PORT in 1..65535")
    return host, int(port_text)


def rpc_model(miner_type: str) -> str:
    t = miner_type.lower()
    if "s9" in t:
        return "s9"
    if "lb" in t and "box" in t:
        return "lbbox"
    return ""


async def probe_rpc(host: str, port: int, timeout_s: float) -> Finding:
    v = parse_version(await rpc_request(host, port, "version", timeout_s=timeout_s))
    return Finding("rpc4028", port, v.miner_type, v.firmware, rpc_model(v.miner_type), {"api": v.api})


async def probe_axeos(host: str, port: int, timeout_s: float) -> Finding:
    client = AxeOSClient(host, port, timeout_s)
    try:
        info = await client.info()
    finally:
        await client.close()
    model = info.model or f"AxeOS {info.asic_model}"
    lv06 = "lv06" in model.lower() or info.asic_model == "BM1366"
    return Finding("axeos", port, model, info.firmware, "lv06" if lv06 else "",
                   {"asic": info.asic_model, "mac": info.mac, "hostname": info.hostname})


async def probe_goldshell(host: str, port: int, timeout_s: float, password: str) -> Finding:
    client = GoldshellClient(host, port, password=password, timeout_s=timeout_s)
    try:
        status = await client.status()
    finally:
        await client.close()
    lb = "lb" in status.model.lower()
    return Finding("goldshell", port, status.model, status.firmware, "lbbox" if lb else "",
                   {"hardware": status.hardware})


async def probe(host: str, port: int | None, timeout_s: float = 2.0,
                password: str = DEFAULT_PASSWORD) -> tuple[list[Finding], dict[str, str]]:
    """All services that answered, and for each that did not, why (protocol:port -> error)."""
    rpc_port = port or 4028
    http_port = port or 80
    attempts = {
        f"rpc4028:{rpc_port}": probe_rpc(host, rpc_port, timeout_s),
        f"axeos:{http_port}": probe_axeos(host, http_port, timeout_s),
        f"goldshell:{http_port}": probe_goldshell(host, http_port, timeout_s, password),
    }
    results = await asyncio.gather(*attempts.values(), return_exceptions=True)
    found: list[Finding] = []
    errors: dict[str, str] = {}
    for name, result in zip(attempts, results, strict=True):
        if isinstance(result, Finding):
            found.append(result)
        elif isinstance(result, (ApiError, OSError)):
            errors[name] = str(result)
        elif isinstance(result, BaseException):
            raise result
    return found, errors
