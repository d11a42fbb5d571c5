"""Resource limits of the pool server, the per-connection token bucket that enforces the line rate, and the
file-descriptor budget the connection cap must fit in."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

log = logging.getLogger(__name__)

# descriptors kept free for everything else in the process (MQTT, HTTP, serial ports, state files, the listener):
# the connection cap is clamped below RLIMIT_NOFILE by this much, so a flood is refused by the pool's own cap
# instead of running the process out of descriptors (EMFILE in accept, or in any other part of the daemon)
FD_HEADROOM = 128


@dataclass(frozen=True, slots=True)
class Limits:
    max_line_bytes: int = 16 * 1024  # a longer line closes the connection (a miner never sends one)
    max_connections: int = 2048  # clamped to the descriptor budget at start (see fd_budget)
    # connections from one address; beyond, the oldest of its not-yet-authorized ones is closed, or (none) the new
    # one is refused. A proxy or NAT fronting many miners needs a larger value.
    max_connections_per_ip: int = 64
    max_pending_per_ip: int = 16  # not-yet-authorized connections of one address; beyond, its oldest is closed
    handshake_timeout_s: float = 30.0  # subscribe + authorize must be done by then
    # no complete line for this long -> close. At a high share difficulty (rate encoding with a small input) a
    # healthy miner may be silent for minutes; dead peers are found by TCP keepalive anyway
    idle_timeout_s: float = 900.0
    # when the pool is full, a new connection may take the slot of an authorized one silent for this long (pending
    # handshakes are evicted first), so silent slot holders cannot lock out working miners
    evict_silent_after_s: float = 60.0
    max_workers_per_connection: int = 32  # distinct authorized workers on one connection
    max_auth_failures: int = 5  # refused authorizes on one connection before it is closed (password guessing)
    lines_per_s: float = 5000.0  # sustained per-connection line rate; excess lines wait (reading pauses)
    line_burst: int = 10000
    max_write_buffer: int = 1 << 20  # a client that does not read its replies is dropped beyond this
    max_jobs_per_connection: int = 32  # jobs a connection may still submit to (older ones: stale)
    # duplicate-detection memory per job and connection (~60 B each); when full the job is retired and a fresh
    # one sent, so memory stays bounded by max_jobs_per_connection * max_shares_per_job keys
    max_shares_per_job: int = 50_000
    # duplicate-detection keys of the whole pool (~90 B each: ~90 MB). Beyond, the connection holding the most loses
    # its oldest job (later shares on it are stale; a miner works on its newest job), so a stranger allowed a tiny
    # difficulty cannot grow the pool by submitting millions of cheap shares over many jobs and connections
    max_share_keys: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("max_line_bytes", "max_connections", "max_connections_per_ip", "max_pending_per_ip",
                     "line_burst", "max_write_buffer", "max_jobs_per_connection", "max_shares_per_job", "max_share_keys",
                     "max_workers_per_connection", "max_auth_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be >= 1, got {getattr(self, name)}")
        for name in ("handshake_timeout_s", "idle_timeout_s", "evict_silent_after_s", "lines_per_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"limit {name} must be > 0, got {getattr(self, name)}")


class TokenBucket:
    """Classic token bucket on a caller-supplied monotonic time in seconds."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = now

    def take(self, now: float) -> bool:
        if self.tokens < 1.0:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens < 1.0:
                return False
        self.tokens -= 1.0
        return True

    def wait_s(self) -> float:
        """Seconds until one token is available."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


def fd_budget(headroom: int = FD_HEADROOM) -> int:
    """Descriptors this process may spend on pool connections: RLIMIT_NOFILE (the soft limit raised to the hard
    one first, as servers do; systemd's default soft limit is 1024) minus `headroom`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # e.g. a kernel nr_open below the hard limit: keep the soft one
            pass
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(1, soft - headroom)
