"""Virtual block manager (VBM): the paper's "+25 % effective hashrate" option, built so it can be measured.

What the option does when enabled on a `StratumServer` (the paper's VERITAS V8 "Pizza Butler" behaviour):

* keeps `prefetch` jobs pre-generated per local job source ("local block template prefetching"), refilled in the
  background;
* sends the next pre-generated job to a connection immediately after each accepted share (clean by default, as
  the paper's code does with clean_jobs=True);
* rotates the jobs among several sessions: on a local pool, `upstream_sessions` template sources with their own
  coinbase tag; on an `UpstreamProxy` (proxy.py), its real upstream sessions, whose jobs are made from each
  session's latest upstream job at send time (a prefetched one would go stale with the next upstream block).

What is measured whether it is on or off (`IdleTimeMeter`): the gap between an accepted share on a connection and
the next job the server sends to that connection, i.e. the "t_network + t_stratum" the paper says a miner waits.
A Stratum miner does not wait for that job (it keeps hashing the one it has), which is why the A/B experiment
(`asicrc vbm-ab`, asicrc.reservoir.vbm.ab) compares *effective hashrate* with the Poisson-CI estimator rather than trusting
the idle-time story.

Hooks used on the server: share, job-sent and connection listeners, and the public `send_job`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..tasks import cancel_and_wait
from .jobs import JobSource, TemplateJobSource
from .proxy import UpstreamProxy
from .server import StratumServer
from .session import Connection, ShareRecord
from .upstream import UpstreamSession
from .validate import Verdict
from .work import Notify


@dataclass(frozen=True, slots=True)
class VbmConfig:
    enabled: bool = False
    prefetch: int = 8  # pre-generated jobs kept ready per local job source
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

    def forget(self, conn_id: int) -> None:
        """The connection closed: its share will never be followed by a job."""
        self._pending.pop(conn_id, None)

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
    """Attach to a server; toggle with `enable()` / `disable()` (the A/B experiment switches it per block).

    Job sources: `sources` if given; else the sessions of the server's `UpstreamProxy` (derived layout) if it has
    one; else the server's own job source plus `upstream_sessions - 1` local template sources. A source with a
    relayed source (`UpstreamSession`) is asked at send time and keeps its job ids; the others are
    prefetched (`prefetch` jobs each) and their ids prefixed with the source index, since theirs may collide.
    """

    def __init__(self, server: StratumServer, config: VbmConfig | None = None,
                 sources: list[JobSource] | None = None) -> None:
        self.server = server
        self.config = config or VbmConfig()
        self.enabled = self.config.enabled
        self.meter = IdleTimeMeter()
        self.sources: list[JobSource] = list(sources) if sources else self._default_sources()
        # an upstream session's jobs are made from its latest upstream job at send time (a prefetched job would go
        # stale with the next upstream block), and their ids are already unique across sessions
        self._relayed = [isinstance(src, UpstreamSession) for src in self.sources]
        self._queues: list[deque[Notify]] = [deque() for _ in self.sources]
        self._next_source = 0
        self._jobs_made = 0
        self.jobs_sent = 0
        self.prefetch_misses = 0  # a share found its source's queue empty and the job was made on the spot
        self.relay_misses = 0  # a relayed source had no usable upstream job; the next source was tried
        self._refill_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        server.add_share_listener(self._on_share)
        server.add_job_sent_listener(self._on_job_sent)
        server.add_connection_listener(self._on_connection)

    def _default_sources(self) -> list[JobSource]:
        base = self.server.job_source
        if isinstance(base, UpstreamProxy):  # its real upstream sessions are the sessions
            sessions = base.sessions
            if not base.distinct_jobs:
                raise ValueError("VBM on an upstream proxy needs distinct jobs: UpstreamProxy(derive_jobs=True) (the "
                                 "default with several upstreams) and room for a job variant in the upstream "
                                 "extranonce2 (else prefix_size=1): a relayed job must be new work each time")
            if self.config.upstream_sessions not in (1, len(sessions)):
                raise ValueError(f"upstream_sessions={self.config.upstream_sessions} but the proxy holds "
                                 f"{len(sessions)} upstream sessions")
            return list(sessions)
        extra: list[JobSource] = []
        size = base.extranonce_size if isinstance(base, TemplateJobSource) else None
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
        await cancel_and_wait(task)

    def enable(self) -> None:
        self.enabled = True
        self._fill()

    def disable(self) -> None:
        self.enabled = False

    # ---- jobs -----------------------------------------------------------------------------------------
    def _make_local(self, k: int) -> Notify:
        self._jobs_made += 1
        notify = self.sources[k].make_job(clean=False)
        # job ids from different local sources may collide: prefix the session index (ids are opaque to miners)
        return dataclasses.replace(notify, job_id=f"v{k}x{self._jobs_made:x}")

    def _fill(self) -> None:
        for k, queue in enumerate(self._queues):
            if not self._relayed[k]:
                while len(queue) < self.config.prefetch:
                    queue.append(self._make_local(k))

    async def _refill_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._fill()

    def next_job(self) -> Notify | None:
        """The next job in the rotation over the sources; None if no source has one (relayed sources only)."""
        n = len(self.sources)
        for _ in range(n):
            k = self._next_source
            self._next_source = (k + 1) % n
            if self._relayed[k]:
                try:
                    notify = self.sources[k].make_job(clean=False)
                except RuntimeError:  # that session has no (usable) upstream job right now
                    self.relay_misses += 1
                    continue
            elif self._queues[k]:
                notify = self._queues[k].popleft()
                self._wake.set()
            else:
                self.prefetch_misses += 1
                notify = self._make_local(k)
                self._wake.set()
            return dataclasses.replace(notify, clean=self.config.clean_jobs)
        return None

    # ---- observers ------------------------------------------------------------------------------------
    def _on_job_sent(self, conn: Connection, notify: Notify, t_ns: int) -> None:
        self.meter.job(conn.id, t_ns)

    def _on_connection(self, conn: Connection, what: str) -> None:
        if what == "closed":
            self.meter.forget(conn.id)

    def _on_share(self, conn: Connection, rec: ShareRecord) -> None:
        if rec.verdict is not Verdict.ACCEPTED:
            return
        # recorded before the job below is sent: the job-sent listener closes this gap synchronously
        self.meter.share(conn.id, rec.t_ns)
        if self.enabled and self.config.new_job_after_share and not conn.closed:
            notify = self.next_job()
            if notify is not None:
                self.server.send_job(conn.id, notify)
                self.jobs_sent += 1

    def status(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "config": dataclasses.asdict(self.config), "jobs_sent": self.jobs_sent,
                "sessions": len(self.sources), "relayed_sessions": sum(self._relayed),
                "prefetched": sum(len(q) for q in self._queues), "prefetch_misses": self.prefetch_misses,
                "relay_misses": self.relay_misses, "idle": self.meter.stats().as_dict()}
