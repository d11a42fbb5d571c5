"""Resource limits of the pool server and the per-connection token bucket that enforces the line rate."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_line_bytes: int = 16 * 1024  # a longer line closes the connection (a miner never sends one)
    max_connections: int = 2048
    handshake_timeout_s: float = 30.0  # subscribe + authorize must be done by then
    # no complete line for this long -> close. Generous: at a high share difficulty (rate encoding with a small
    # input) a healthy miner may be silent for many minutes; dead peers are found by TCP keepalive anyway
    idle_timeout_s: float = 3600.0
    lines_per_s: float = 5000.0  # sustained per-connection line rate; excess lines wait (reading pauses)
    line_burst: int = 10000
    max_write_buffer: int = 1 << 20  # a client that does not read its replies is dropped beyond this
    max_jobs_per_connection: int = 32  # jobs a connection may still submit to (older ones: stale)
    # duplicate-detection memory per job and connection (~60 B each); when full the job is retired and a fresh
    # one sent, so memory stays bounded by max_jobs_per_connection * max_shares_per_job keys
    max_shares_per_job: int = 50_000

    def __post_init__(self) -> None:
        for name in ("max_line_bytes", "max_connections", "line_burst", "max_write_buffer",
                     "max_jobs_per_connection", "max_shares_per_job"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be >= 1, got {getattr(self, name)}")
        for name in ("handshake_timeout_s", "idle_timeout_s", "lines_per_s"):
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
