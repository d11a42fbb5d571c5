"""The pool's connection table: who gets a slot when strangers flood it.

Every open connection is counted per peer address; connections that have not authorized a worker yet (pending)
are also kept in age order, per address and overall. A new connection is admitted like this:
1. its address is at ``max_connections_per_ip``: the oldest pending connection of that address makes room, or,
   if all of them are authorized, the new one is refused;
2. its address has ``max_pending_per_ip`` pending connections: the oldest of them is closed;
3. the pool is at ``max_connections``: the oldest pending connection overall makes room, else an authorized one
   silent for ``evict_silent_after_s``; if there is neither, the new one is refused.
So a flood of half-open handshakes only ever pushes out other half-open handshakes (a miner finishes its own in
milliseconds), and slot holders that never talk cannot lock out miners that do. Everything here is bounded by
the number of open connections, never by what peers send.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import TYPE_CHECKING

from .limits import Limits

if TYPE_CHECKING:
    from .session import Connection


class ConnectionTable:
    def __init__(self, limits: Limits, stats: Counter[str]) -> None:
        self.limits = limits
        self.cap = limits.max_connections  # may be lowered to the descriptor budget at start
        self.stats = stats
        self.all: dict[int, Connection] = {}
        self._per_ip: Counter[str] = Counter()
        self._pending: OrderedDict[int, Connection] = OrderedDict()
        self._pending_by_ip: dict[str, OrderedDict[int, Connection]] = {}

    def __len__(self) -> int:
        return len(self.all)

    def admit(self, conn: Connection, now: float) -> bool:
        """Make room for `conn` (closing others as described above) and register it; False: refuse it."""
        ip = conn.ip_key
        limits = self.limits
        if self._per_ip[ip] >= limits.max_connections_per_ip:
            if not self._evict_pending(self._pending_by_ip.get(ip), "evicted_pending_per_ip"):
                self.stats["refused_per_ip"] += 1
                return False
        mine = self._pending_by_ip.get(ip)
        if mine is not None and len(mine) >= limits.max_pending_per_ip:
            self._evict_pending(mine, "evicted_pending_per_ip")
        if len(self.all) >= self.cap and not self._evict_pending(self._pending, "evicted_pending") \
                and not self._evict_silent(now):
            self.stats["refused"] += 1
            return False
        self.all[conn.id] = conn
        self._per_ip[ip] += 1
        self._pending[conn.id] = conn
        self._pending_by_ip.setdefault(ip, OrderedDict())[conn.id] = conn
        conn.admitted = True
        return True

    def authorized(self, conn: Connection) -> None:
        """`conn` authorized its first worker: it is no longer a pending handshake."""
        self._unpend(conn)

    def remove(self, conn: Connection) -> None:
        """Forget `conn` (idempotent: eviction removes at once, connection_lost comes later)."""
        if self.all.pop(conn.id, None) is None:
            return
        self._unpend(conn)
        ip = conn.ip_key
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]

    def connections_of(self, ip: str) -> int:
        return self._per_ip.get(ip, 0)

    def _unpend(self, conn: Connection) -> None:
        if self._pending.pop(conn.id, None) is None:
            return
        mine = self._pending_by_ip.get(conn.ip_key)
        if mine is not None:
            mine.pop(conn.id, None)
            if not mine:
                del self._pending_by_ip[conn.ip_key]

    def _evict_pending(self, queue: OrderedDict[int, Connection] | None, stat: str) -> bool:
        if not queue:
            return False
        victim = next(iter(queue.values()))
        self._evict(victim, stat, "pool full: oldest pending handshake closed for a new connection")
        return True

    def _evict_silent(self, now: float) -> bool:
        # only when the pool is full and nobody is pending: a scan of at most `cap` connections
        silent = [c for c in self.all.values() if now - c.last_line_at >= self.limits.evict_silent_after_s]
        if not silent:
            return False
        victim = min(silent, key=lambda c: c.last_line_at)
        self._evict(victim, "evicted_silent", "pool full: longest-silent connection closed for a new connection")
        return True

    def _evict(self, victim: Connection, stat: str, reason: str) -> None:
        self.stats[stat] += 1
        self.remove(victim)
        victim.close(reason, abort=True, quiet=True)
