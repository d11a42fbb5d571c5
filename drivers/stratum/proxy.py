"""Upstream proxy: serve downstream miners with the jobs of a real pool, and forward their good shares.

Extranonce layout: upstream gives (E1, n2). Downstream connection k gets extranonce1 = E1 ‖ k (prefix_size
bytes) and extranonce2 size n2 - prefix_size, so downstream coinbase = coinb1 ‖ E1 ‖ k ‖ e2 ‖ coinb2 is exactly
the upstream coinbase with extranonce2 = k ‖ e2. Every downstream share is validated locally at the downstream
difficulty (events, reservoir); those that also meet the upstream job's difficulty are submitted upstream, so a
measured miner keeps earning. Downstream version rolling is limited to the mask the upstream granted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter, deque
from urllib.parse import urlsplit

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import FanOut

from .client import Job, StratumClient, SubmitResult
from .server import ServerConfig, StratumServer
from .session import Connection, ShareRecord
from .validate import Verdict
from .work import Notify

log = logging.getLogger(__name__)


def parse_stratum_url(url: str) -> tuple[str, int]:
    """'stratum+tcp://host:port' (or 'host:port') -> (host, port)."""
    parts = urlsplit(url if "://" in url else f"stratum+tcp://{url}")
    if parts.scheme not in ("stratum+tcp", "stratum", "tcp"):
        raise ValueError(f"unsupported upstream URL scheme {parts.scheme!r} (use stratum+tcp://host:port)")
    if not parts.hostname:
        raise ValueError(f"upstream URL {url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"upstream URL {url!r} has an invalid port") from None
    if port is None:
        raise ValueError(f"upstream URL {url!r} needs a port")
    return parts.hostname, port


class UpstreamProxy:
    """A StratumServer whose jobs come from an upstream pool. ``await start()``, then use ``.server``."""

    def __init__(
        self,
        upstream_url: str,
        user: str,
        password: str = "x",
        *,
        config: ServerConfig | None = None,
        fanout: FanOut | None = None,
        clock: Clock = REAL_TIME,
        prefix_size: int = 2,
        user_agent: str = "asicrc-proxy/0.1",
    ) -> None:
        self.upstream_host, self.upstream_port = parse_stratum_url(upstream_url)
        self.base_config = config or ServerConfig()
        self.prefix_size = prefix_size
        self.fanout = fanout if fanout is not None else FanOut()
        self.clock = clock
        self.client = StratumClient(
            self.upstream_host, self.upstream_port, user, password, user_agent=user_agent,
            version_rolling=self.base_config.version_mask or None, clock=clock, auto_reconnect=True,
        )
        self.client.add_job_listener(self._on_upstream_job)
        self.server: StratumServer | None = None
        self.stats: Counter[str] = Counter()
        self.upstream_results: deque[SubmitResult] = deque(maxlen=1000)  # latest upstream verdicts
        self._latest: Job | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # JobSource protocol: the server asks for "a new job"; upstream work is what there is
    def make_job(self, clean: bool = False) -> Notify:
        if self._latest is None:
            raise RuntimeError("no upstream job yet")
        notify = self._latest.notify
        return dataclasses.replace(notify, clean=clean or notify.clean)

    async def start(self) -> StratumServer:
        await self.client.connect()
        job = await self.client.wait_job()
        en2 = self.client.extranonce2_size
        if en2 - self.prefix_size < 2:
            raise ValueError(f"upstream extranonce2 size {en2} leaves < 2 bytes after a {self.prefix_size}-byte "
                             "per-miner prefix: use a smaller prefix_size")
        config = dataclasses.replace(
            self.base_config,
            extranonce1_prefix=self.client.extranonce1,
            extranonce1_size=self.prefix_size,
            extranonce2_size=en2 - self.prefix_size,
            version_mask=self.client.version_mask & self.base_config.version_mask,
            job_interval_s=0,  # jobs come from upstream
            lbry=job.notify.is_lbry,
        )
        self.server = StratumServer(config, job_source=self, fanout=self.fanout, clock=self.clock)
        self.server.current_job = job.notify
        self.server.add_share_listener(self._forward)
        await self.server.start()
        return self.server

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            await self.server.stop()
        await self.client.close()

    async def __aenter__(self) -> UpstreamProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _on_upstream_job(self, job: Job) -> None:
        previous, self._latest = self._latest, job
        self.stats["upstream_jobs"] += 1
        server = self.server
        if server is None:
            return
        if previous is not None and (job.extranonce1 != previous.extranonce1
                                     or job.extranonce2_size != previous.extranonce2_size):
            # upstream session changed (reconnect or set_extranonce): move every miner to the new space
            server.set_extranonce_prefix(job.extranonce1, job.extranonce2_size - self.prefix_size)
        server.broadcast_job(job.notify)

    def _forward(self, conn: Connection, rec: ShareRecord) -> None:
        if rec.verdict is not Verdict.ACCEPTED or rec.submit is None:
            return
        up_job = self.client.jobs.get(rec.job_id)
        if up_job is None:
            self.stats["stale_upstream"] += 1
            return
        if rec.achieved_diff < min(up_job.difficulty, self.client.difficulty):
            self.stats["below_upstream_difficulty"] += 1
            return
        prefix_len = len(up_job.extranonce1)
        if conn.extranonce1[:prefix_len] != up_job.extranonce1:
            self.stats["extranonce_mismatch"] += 1
            return
        sub = rec.submit
        en2 = conn.extranonce1[prefix_len:] + sub.extranonce2
        self.stats["forwarded"] += 1
        task = asyncio.ensure_future(
            self._submit(sub.job_id, en2, sub.ntime, sub.nonce, sub.version_bits, self.client.user))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(self, job_id: str, en2: bytes, ntime: int, nonce: int, version_bits: int | None,
                      worker: str) -> None:
        try:
            res = await self.client.submit(job_id, en2, ntime, nonce, version_bits, worker=worker)
        except (ConnectionError, TimeoutError) as exc:
            self.stats["upstream_errors"] += 1
            log.warning("proxy: upstream submit failed: %s", exc)
            return
        self.upstream_results.append(res)
        self.stats["upstream_accepted" if res.accepted else "upstream_rejected"] += 1
