"""The network allow-list a config needs, as a systemd drop-in (`asicrc run --config PATH --print-allowlist`).

The unit ships `IPAddressDeny=any` with every private range allowed; this narrows it to what the config talks to:
loopback (simulated devices, a local broker, systemd-resolved), the broker, every enabled network device (polled,
and connecting to the pool from the same address), `[stratum.workers.*] peers`, the DNS servers of
/etc/resolv.conf when any of those is a host name (names are resolved now: the kernel filter sees addresses), and
whatever `extra` adds (the Prometheus server, admin hosts). The kernel applies it to every socket of the service.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from pathlib import Path

from .config import Config

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"host {host!r} does not resolve ({exc.strerror or exc}): put its address in the config "
                         "or fix the name first") from None
    return sorted({str(info[4][0]) for info in infos})


def _network(text: str, what: str) -> Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not an address or network") from None


def nameservers(resolv_conf: Path) -> list[str]:
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return []
    return [parts[1] for parts in (line.split() for line in lines) if len(parts) >= 2 and parts[0] == "nameserver"]


def needed_networks(cfg: Config, extra: Iterable[str] = (), resolve: Resolver = _resolve,
                    resolv_conf: Path = Path("/etc/resolv.conf")) -> list[Network]:
    """Every address or network the daemon with `cfg` must reach or be reached from, loopback aside."""
    hosts: list[tuple[str, str]] = []  # (host, where it comes from)
    if cfg.mqtt.enabled:
        hosts.append((cfg.mqtt.host, "[mqtt] host"))
    hosts += [(d.host, f"device {d.id}") for d in cfg.devices if d.enabled and d.transport in ("http", "rpc")]
    out: set[Network] = set()
    named = False
    for host, what in hosts:
        try:
            out.add(ipaddress.ip_network(host))
        except ValueError:
            resolved = {_network(addr, what) for addr in resolve(host)}
            named = named or any(not n.is_loopback for n in resolved)  # "localhost" needs no DNS server
            out.update(resolved)
    for name, worker in cfg.stratum.workers.items():
        out.update(_network(peer, f"[stratum.workers.{name}] peers") for peer in worker.peers)
    if named:
        out.update(_network(ns, str(resolv_conf)) for ns in nameservers(resolv_conf))
    out.update(_network(x, "--allow") for x in extra)
    return sorted((n for n in out if not n.is_loopback), key=lambda n: (n.version, n))


def dropin(cfg: Config, source: str | None, extra: Iterable[str] = (), resolve: Resolver = _resolve,
           resolv_conf: Path = Path("/etc/resolv.conf")) -> str:
    """The drop-in text: an empty IPAddressAllow= resets the unit's shipped list, then localhost and the rest."""
    nets = needed_networks(cfg, extra, resolve, resolv_conf)
    listed = " ".join(str(n.network_address) if n.num_addresses == 1 else str(n) for n in nets)
    command = f"asicrc run{f' --config {source}' if source else ''} --print-allowlist"
    return (f"# /etc/systemd/system/asicrc.service.d/network.conf, from `{command}`:\n"
            "# regenerate it when devices, the broker or worker peers change (then daemon-reload and restart)\n"
            f"[Service]\nIPAddressAllow=\nIPAddressAllow=localhost{' ' + listed if listed else ''}\n")
