"""Virtual block manager (VBM): the paper's "+25 % effective hashrate" option, built so it can be measured.

What the option does when enabled on a `StratumServer` (the paper's VERITAS V8 "Pizza Butler" behaviour):

* keeps `prefetch` local jobs pre-generated ("local block template prefetching"), refilled in the background;
* sends the next pre-generated job to a connection immediately after each accepted share (clean by default, as
  the paper's code does with clean_jobs=True);
* rotates the jobs among `upstream_sessions` independent job sources (several upstream sessions; locally these
  are separate template sources with their own coinbase tag).

What is measured whether it is on or off (`IdleTimeMeter`): the gap between an accepted share on a connection and
the next job the server sends to that connection, i.e. the "t_network + t_stratum" the paper says a miner waits.
A Stratum miner does not wait for that job (it keeps hashing the one it has), which is why the A/B experiment
(`asicrc vbm-ab`, vbm_cli.py) compares *effective hashrate* with the Poisson-CI estimator rather than trusting
the idle-time story.

Hook used on the server: share listeners and the public `send_job`. Job sends by the server itself (first job,
periodic broadcasts) are observed by wrapping each authorized connection's `send_job` (the server has no
job-send listener; see the report to the Stratum owner).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .jobs import JobSource, TemplateJobSource
from .server import StratumServer
from .session import Connection, ShareRecord
from .validate import Verdict
from .work import Notify


@dataclass(frozen=True, slots=True)
class VbmConfig:
    enabled: bool = False
    prefetch: int = 8  # pre-generated jobs kept ready
    new_job_after_share: bool = True
    clean_jobs: bool = True  # the paper's variant; False keeps earlier jobs valid
    upstream_sessions: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.prefetch <= 1024:
            raise ValueError(f"prefetch must be in 1..1024, got {self.prefetch}")
        if not 1 <= self.upstream_sessions <= 64:
            raise ValueError(f"upstream_sessions must be in 1..64, got {self.upstream_sessions}")


@dataclass(frozen=True, slots=True)
class IdleStats:
    gaps: int  # shares followed by a job
    mean_s: float
    median_s: float
    p95_s: float
    max_s: float
    pending: int  # accepted shares still waiting for a next job

    def as_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


class IdleTimeMeter:
    """Per connection: clock time from an accepted share to the next job sent to that connection."""

    def __init__(self) -> None:
        self._pending: dict[int, int] = {}  # connection -> t_ns of the first accepted share not yet followed
        self.gaps_s: list[float] = []

    def share(self, conn_id: int, t_ns: int) -> None:
        self._pending.setdefault(conn_id, t_ns)

    def job(self, conn_id: int, t_ns: int) -> None:
        t0 = self._pending.pop(conn_id, None)
        if t0 is not None:
            self.gaps_s.append(max(0.0, (t_ns - t0) / 1e9))

    def reset(self) -> None:
        self._pending.clear()
        self.gaps_s = []

    def stats(self) -> IdleStats:
        g = sorted(self.gaps_s)
        if not g:
            return IdleStats(0, 0.0, 0.0, 0.0, 0.0, len(self._pending))
        p95 = g[min(len(g) - 1, int(0.95 * len(g)))]
        return IdleStats(len(g), statistics.fmean(g), statistics.median(g), p95, g[-1], len(self._pending))


class VirtualBlockManager:
    """Attach to a server; toggle with `enable()` / `disable()` (the A/B experiment switches it per block)."""

    def __init__(self, server: StratumServer, config: VbmConfig | None = None,
                 sources: list[JobSource] | None = None) -> None:
        self.server = server
        self.config = config or VbmConfig()
        self.enabled = self.config.enabled
        self.meter = IdleTimeMeter()
        self.sources: list[JobSource] = list(sources) if sources else self._default_sources()
        self._queue: deque[Notify] = deque()
        self._next_source = 0
        self._jobs_made = 0
        self.jobs_sent = 0
        self.prefetch_misses = 0  # a share found the queue empty and the job was made on the spot
        self._refill_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        server.add_share_listener(self._on_share)
        server.add_connection_listener(self._on_connection)
        for conn in server.active_connections():
            self._observe(conn)

    def _default_sources(self) -> list[JobSource]:
        base = self.server.job_source
        extra: list[JobSource] = []
        size = getattr(base, "extranonce_size", None)
        for k in range(1, self.config.upstream_sessions):
            if size is None:
                raise ValueError("several upstream sessions need a job source with a known extranonce size")
            extra.append(TemplateJobSource(size, clock=self.server.clock, seed=k, tag=b"/asicrc-vbm%d/" % k,
                                           lbry=self.server.config.lbry))
        return [base, *extra]

    # ---- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._fill()
        if self._refill_task is None:
            self._refill_task = asyncio.create_task(self._refill_loop(), name="vbm-prefetch")

    async def stop(self) -> None:
        task, self._refill_task = self._refill_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def enable(self) -> None:
        self.enabled = True
        self._fill()

    def disable(self) -> None:
        self.enabled = False

    # ---- jobs -----------------------------------------------------------------------------------------
    def _make(self) -> Notify:
        k = self._next_source
        self._next_source = (k + 1) % len(self.sources)
        self._jobs_made += 1
        notify = self.sources[k].make_job(clean=False)
        # job ids from different sources may collide: prefix the session index (ids are opaque to miners)
        return dataclasses.replace(notify, job_id=f"v{k}x{self._jobs_made:x}")

    def _fill(self) -> None:
        while len(self._queue) < self.config.prefetch:
            self._queue.append(self._make())

    async def _refill_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._fill()

    def next_job(self) -> Notify:
        if self._queue:
            notify = self._queue.popleft()
        else:
            self.prefetch_misses += 1
            notify = self._make()
        self._wake.set()
        return dataclasses.replace(notify, clean=self.config.clean_jobs)

    # ---- observers ------------------------------------------------------------------------------------
    def _observe(self, conn: Connection) -> None:
        """Record every job the server sends on this connection (wraps the instance's send_job)."""
        if getattr(conn, "_vbm_observed", False):
            return
        original: Callable[[Notify, int], None] = conn.send_job
        meter = self.meter

        def send_job(notify: Notify, t_ns: int, _conn_id: int = conn.id) -> None:
            original(notify, t_ns)
            meter.job(_conn_id, t_ns)

        conn.send_job = send_job  # type: ignore[method-assign]
        conn._vbm_observed = True  # type: ignore[attr-defined]

    def _on_connection(self, conn: Connection, what: str) -> None:
        if what == "authorized":
            self._observe(conn)

    def _on_share(self, conn: Connection, rec: ShareRecord) -> None:
        if rec.verdict is not Verdict.ACCEPTED:
            return
        self.meter.share(conn.id, rec.t_ns)
        if self.enabled and self.config.new_job_after_share and not conn.closed:
            self.server.send_job(conn.id, self.next_job())
            self.jobs_sent += 1

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "config": dataclasses.asdict(self.config), "jobs_sent": self.jobs_sent,
                "prefetched": len(self._queue), "prefetch_misses": self.prefetch_misses,
                "idle": self.meter.stats().as_dict()}
