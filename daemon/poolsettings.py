"""The built-in pool's settings from ``[stratum]`` and ``[[devices]]``: limits, the suggest_difficulty policy, and
who may authorize as which worker.

A configured device's id is a locked worker name: unless ``[stratum.workers.<id>]`` says otherwise it is
accepted only from the device's own address (its ``host``, resolved once at start; loopback for simulated
devices), so nobody else on the LAN can authorize as it and inflate its shares. ``[stratum.workers.<name>]``
tables set a password and/or peer addresses for any name; other names are refused unless
``allow_unknown_workers`` is set.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from pathlib import Path

from asicrc.drivers.stratum.auth import IPNetwork, WorkerCredentials, parse_peers, peer_ip
from asicrc.drivers.stratum.limits import Limits
from asicrc.drivers.stratum.server import ServerConfig

from .config import DeviceConfig, StratumConfig

log = logging.getLogger("asicrc.stratum")

LOOPBACK = parse_peers(["127.0.0.1", "::1"])
RESOLVE_TIMEOUT_S = 5.0


def pool_limits(cfg: StratumConfig) -> Limits:
    return Limits(max_connections=cfg.max_connections, max_connections_per_ip=cfg.max_connections_per_ip,
                  max_pending_per_ip=cfg.max_pending_per_ip, max_workers_per_connection=cfg.max_workers_per_connection,
                  max_share_keys=cfg.max_share_keys,
                  handshake_timeout_s=cfg.handshake_timeout_s, idle_timeout_s=cfg.idle_timeout_s,
                  evict_silent_after_s=cfg.evict_silent_after_s)


async def device_peers(dc: DeviceConfig) -> tuple[IPNetwork, ...]:
    """Where device `dc` connects to the pool from: loopback for a simulated device (or one on this host), else
    the addresses its host resolves to (none, with one error line, if it does not resolve)."""
    if dc.transport == "sim":
        return LOOPBACK
    ip = peer_ip(dc.host)
    if ip is not None:
        return LOOPBACK if ip.is_loopback else parse_peers([str(ip)])
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(dc.host, None,
                                                                              type=socket.SOCK_STREAM),
                                       RESOLVE_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        log.error("stratum: device %s: host %r does not resolve (%s); it cannot authorize on the pool until it "
                  "does (restart), or give [stratum.workers.%s] peers or a password", dc.id, dc.host,
                  exc or "timed out", dc.id)
        return ()
    return parse_peers(sorted({str(peer_ip(str(info[4][0]))) for info in infos if peer_ip(str(info[4][0]))}))


def _password(name: str, password: str, password_file: str) -> str | None:
    if password_file:
        try:
            return Path(password_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"stratum.workers.{name}.password_file: cannot read {password_file!r}: "
                             f"{exc.strerror or exc}") from None
    return password or None


async def pool_workers(cfg: StratumConfig, devices: Iterable[DeviceConfig]) -> dict[str, WorkerCredentials]:
    """Every locked worker name and its credentials: [stratum.workers] tables, then configured device ids."""
    workers = {name: WorkerCredentials(_password(name, w.password, w.password_file), parse_peers(w.peers))
               for name, w in cfg.workers.items()}
    for dc in devices:
        if dc.id not in workers:
            peers = await device_peers(dc)
            # no address to accept it from: an unmatchable network locks the name instead of opening it
            workers[dc.id] = WorkerCredentials(peers=peers or parse_peers(["0.0.0.0/32"]))
    return workers


def server_config(cfg: StratumConfig, workers: dict[str, WorkerCredentials], *, lbry: bool) -> ServerConfig:
    return ServerConfig(host=cfg.host, port=cfg.lbry_port if lbry else cfg.port, difficulty=cfg.difficulty,
                        min_difficulty=min(1e-9, cfg.difficulty), lbry=lbry, workers=workers,
                        allow_unknown_workers=cfg.allow_unknown_workers, suggest_difficulty=cfg.suggest_difficulty,
                        limits=pool_limits(cfg))
