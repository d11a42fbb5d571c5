"""Who may authorize as which worker: an allow-list of worker names, each with an optional password and an optional
set of peer addresses it must connect from.

Stratum v1 has no real authentication (the password travels in clear), so on a shared LAN the address a miner
connects from is often the stronger credential: a configured device's worker name is accepted only from that
device's address and/or with its password, so a stranger cannot authorize as `s9-rack1` and inflate its shares.
A worker ``user.rig`` is looked up as ``user.rig`` first, then as ``user`` (pools key accounts on the user part).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_peers(peers: Iterable[str], what: str = "peers") -> tuple[IPNetwork, ...]:
    """Addresses or CIDR networks ('192.168.1.50', '10.0.0.0/24', '::1'); ValueError names the bad entry."""
    out: list[IPNetwork] = []
    for entry in peers:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{what}: {entry!r} is not an IP address or CIDR network") from None
    return tuple(out)


def peer_ip(host: str) -> IPAddress | None:
    """The IP of a peer address as the socket reports it (IPv4-mapped IPv6 folded to IPv4); None if not an IP."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])  # drop an IPv6 zone id
    except ValueError:
        return None
    return _fold(ip)


def _fold(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True, slots=True)
class WorkerCredentials:
    """What a worker must present. Both unset: anyone may use the name (an explicit open entry)."""

    password: str | None = None  # None: any password
    peers: tuple[IPNetwork, ...] = ()  # empty: any address

    def refusal(self, password: str, ip: IPAddress | None) -> str | None:
        """None when the credentials hold, else why not (without revealing the expected values)."""
        if self.peers and (ip is None or not any(ip in net for net in self.peers)):
            return "not allowed from this address"
        if self.password is not None and not hmac.compare_digest(password.encode(), self.password.encode()):
            return "wrong password"
        return None


class WorkerAuth:
    """The pool's authorization policy: `workers` (name -> credentials) and whether other names may authorize.

    ``WorkerAuth(None)`` (the default of a standalone pool) lets anyone authorize under any name."""

    def __init__(self, workers: Mapping[str, WorkerCredentials] | None = None, allow_unknown: bool = False) -> None:
        self.workers: dict[str, WorkerCredentials] = dict(workers or {})
        self.allow_unknown = allow_unknown or workers is None

    @property
    def open(self) -> bool:
        """Anyone may authorize under any name (no allow-list)."""
        return self.allow_unknown and not self.workers

    def lookup(self, worker: str) -> WorkerCredentials | None:
        creds = self.workers.get(worker)
        if creds is None and "." in worker:
            creds = self.workers.get(worker.split(".", 1)[0])
        return creds

    def refusal(self, worker: str, password: str, ip: IPAddress | None) -> str | None:
        """None when `worker` may authorize with `password` from address `ip`, else the reason."""
        creds = self.lookup(worker)
        if creds is None:
            return None if self.allow_unknown else "unknown worker (not in the pool's allow-list)"
        return creds.refusal(password, ip)
