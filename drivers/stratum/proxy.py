"""Upstream proxy: serve downstream miners with the jobs of one or several real pools, forward their good shares.

One upstream session (direct layout): upstream gives (E1, n2). Downstream connection k gets extranonce1 = E1 ‖ k
(prefix_size bytes) and extranonce2 size n2 - prefix_size, so downstream coinbase = coinb1 ‖ E1 ‖ k ‖ e2 ‖ coinb2
is exactly the upstream coinbase with extranonce2 = k ‖ e2.

Several upstream sessions (derived layout, upstream.py): a miner has one extranonce1 but the sessions have
different E1s, so each session's E1 is folded into the coinb1 of the jobs it issues, miners' extranonce1 is just
k, and every derived job has its own id that maps back to its session and upstream job. Jobs of every session are
relayed to the miners as they arrive.

Every downstream share is validated locally at the downstream difficulty (events, reservoir); those that also
meet the issuing upstream job's difficulty are submitted to the session that issued the job, so a measured miner
keeps earning. Downstream version rolling is limited to the mask every upstream granted.

Honest failure: the proxy is the pool's share gate (:mod:`.gate`). While the session a share belongs to is
disconnected, the miner gets error 20 "Upstream pool unavailable: share not forwarded" instead of "accepted", so
its own failover logic sees the outage; a share that meets the upstream difficulty is answered only when the
upstream pool has answered it (its verdict, or error 20 if the submit failed or timed out). An upstream that is
connected but lets a submit time out is dropped (it reconnects), so a hung pool reads as down, not as "accepted".
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import Counter, deque
from collections.abc import Sequence
from urllib.parse import urlsplit

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import FanOut

from .client import Job, StratumClient, SubmitResult
from .gate import GateDecision, Refusal
from .server import ServerConfig, StratumServer
from .session import Connection, ShareRecord
from .upstream import VARIANT_SIZE, UpstreamSession, url_credentials
from .validate import Verdict
from .work import Notify

log = logging.getLogger(__name__)

UPSTREAM_DOWN = Refusal(Verdict.UPSTREAM_UNAVAILABLE, "Upstream pool unavailable: share not forwarded")
# upstream rejections that say nothing about the version form (stale, duplicate, unauthorized, not subscribed):
# no retry in the other form
NOT_A_VERSION_REJECTION = frozenset({21, 22, 24, 25})


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
    """A StratumServer whose jobs come from upstream pools. ``await start()``, then use ``.server``.

    `upstream_url` is one URL or a list (one upstream session each; 'stratum+tcp://user:pass@host:port' overrides
    `user` / `password` for that session). `derive_jobs` picks the derived layout; it is on by default with
    several sessions and needed by the VBM (distinct work per job it sends). `variant_size` (derived layout):
    upstream extranonce2 bytes spent on job variants; default as many of VARIANT_SIZE as leave the miners >= 2
    bytes of extranonce2. `submit_timeout_s`: how long an upstream may take to answer (a submit, the handshake);
    a session that lets a submit time out while connected is dropped and reconnects, its shares refused meanwhile.
    """

    def __init__(
        self,
        upstream_url: str | Sequence[str],
        user: str,
        password: str = "x",
        *,
        config: ServerConfig | None = None,
        fanout: FanOut | None = None,
        clock: Clock = REAL_TIME,
        prefix_size: int = 2,
        user_agent: str = "asicrc-proxy/0.1",
        derive_jobs: bool | None = None,
        variant_size: int | None = None,
        submit_timeout_s: float = 10.0,
    ) -> None:
        urls = [upstream_url] if isinstance(upstream_url, str) else list(upstream_url)
        if not urls:
            raise ValueError("the proxy needs at least one upstream URL")
        if len(urls) > 1 and derive_jobs is False:
            raise ValueError("several upstream sessions need derive_jobs (one miner extranonce1 cannot carry "
                             "every session's extranonce1)")
        self.derive_jobs = len(urls) > 1 if derive_jobs is None else derive_jobs
        self.base_config = config or ServerConfig()
        self.prefix_size = prefix_size
        if variant_size is not None and not 0 <= variant_size <= 4:
            raise ValueError(f"variant_size must be in 0..4, got {variant_size}")
        self.variant_size = variant_size
        self.fanout = fanout if fanout is not None else FanOut()
        self.clock = clock
        self.sessions: list[UpstreamSession] = []
        for index, url in enumerate(urls):
            host, port = parse_stratum_url(url)
            url_user, url_password = url_credentials(url)
            session = UpstreamSession(index, host, port, url_user or user,
                                      url_password if url_password is not None else password,
                                      version_rolling=self.base_config.version_mask or None, clock=clock,
                                      user_agent=user_agent, request_timeout_s=submit_timeout_s)
            session.client.add_job_listener(functools.partial(self._on_upstream_job, session))
            self.sessions.append(session)
        self.upstream_host, self.upstream_port = self.sessions[0].client.host, self.sessions[0].client.port
        self.server: StratumServer | None = None
        self.stats: Counter[str] = Counter()  # totals; per session in session.stats
        self.upstream_results: deque[SubmitResult] = deque(maxlen=1000)  # latest upstream verdicts
        self._next_session = 0
        self._tasks: set[asyncio.Task[Refusal | None]] = set()

    @property
    def distinct_jobs(self) -> bool:
        """Every job made from one upstream job is new work (derived layout with job variants; after start)."""
        return self.derive_jobs and all(s.variant_size > 0 for s in self.sessions)

    @property
    def client(self) -> StratumClient:
        """The first upstream session's client (the only one with a single upstream)."""
        return self.sessions[0].client

    # JobSource protocol: the server asks for "a new job"; upstream work is what there is (round robin over the
    # sessions that have a job)
    def make_job(self, clean: bool = False) -> Notify:
        n = len(self.sessions)
        for _ in range(n):
            session = self.sessions[self._next_session]
            self._next_session = (self._next_session + 1) % n
            try:
                return session.make_job(clean)
            except RuntimeError:
                continue
        raise RuntimeError("no upstream job yet")

    async def start(self) -> StratumServer:
        try:
            await asyncio.gather(*(s.client.connect() for s in self.sessions))
            jobs = await asyncio.gather(*(s.client.wait_job() for s in self.sessions))
            config = self._downstream_config(jobs)
        except BaseException:
            await self.stop()
            raise
        self.server = StratumServer(config, job_source=self, fanout=self.fanout, clock=self.clock)
        self.server.current_job = self.make_job(clean=True)
        self.server.share_gate = self
        await self.server.start()
        return self.server

    def _downstream_config(self, jobs: Sequence[Job]) -> ServerConfig:
        if len({job.notify.is_lbry for job in jobs}) > 1:
            raise ValueError("upstream pools mix LBRY and Bitcoin jobs")
        mask = self.base_config.version_mask
        for s in self.sessions:
            mask &= s.client.version_mask
        en2 = min(s.client.extranonce2_size for s in self.sessions)
        variant = 0
        if self.derive_jobs:
            variant = self.variant_size if self.variant_size is not None else \
                max(0, min(VARIANT_SIZE, en2 - self.prefix_size - 2))
        reserved = self.prefix_size + variant
        if en2 - reserved < 2:
            raise ValueError(f"upstream extranonce2 size {en2} leaves < 2 bytes after {self.prefix_size} bytes of "
                             f"per-miner prefix and {variant} of job variant: use a smaller prefix_size")
        for s in self.sessions:
            s.derive = self.derive_jobs
            s.prefix_size = self.prefix_size
            s.variant_size = variant
            s.downstream_extranonce2_size = en2 - reserved
        return dataclasses.replace(
            self.base_config,
            # derived: the session's extranonce1 travels in each job's coinb1, so miners get only their prefix
            extranonce1_prefix=b"" if self.derive_jobs else self.client.extranonce1,
            extranonce1_size=self.prefix_size,
            extranonce2_size=en2 - reserved,
            version_mask=mask,
            job_interval_s=0,  # jobs come from upstream
            lbry=jobs[0].notify.is_lbry,
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.server is not None:
            await self.server.stop()
        for s in self.sessions:
            await s.client.close()

    async def __aenter__(self) -> UpstreamProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _count(self, session: UpstreamSession, key: str) -> None:
        self.stats[key] += 1
        session.stats[key] += 1

    def _on_upstream_job(self, session: UpstreamSession, job: Job) -> None:
        self._count(session, "upstream_jobs")
        server = self.server
        if server is None:
            return
        if not self.derive_jobs and session.session_changed():
            # upstream session changed (reconnect or set_extranonce): move every miner to the new space. The
            # derived layout needs nothing: new jobs carry the new extranonce1 in their coinb1.
            server.set_extranonce_prefix(job.extranonce1, job.extranonce2_size - self.prefix_size)
        try:
            notify = session.make_job()
        except RuntimeError as exc:
            self._count(session, "unusable_upstream_jobs")
            log.warning("proxy: %s", exc)
            return
        server.broadcast_job(notify)

    def admit(self, conn: Connection, rec: ShareRecord) -> GateDecision:
        """ShareGate: refuse while the issuing upstream is down; hold shares it must get until it answers."""
        if rec.submit is None:
            return None
        for session in self.sessions:
            resolved = session.resolve(rec.job_id)
            if resolved is not None:
                break
        else:
            if not any(s.client.connected.is_set() for s in self.sessions):
                self.stats["refused_upstream_down"] += 1
                return UPSTREAM_DOWN
            self.stats["stale_upstream"] += 1
            return None
        if not session.client.connected.is_set():
            self._count(session, "refused_upstream_down")
            return UPSTREAM_DOWN
        up_job, fold = resolved
        if rec.achieved_diff < min(up_job.difficulty, session.client.difficulty):
            self._count(session, "below_upstream_difficulty")
            return None
        # the upstream coinbase is coinb1 ‖ E1 ‖ en2 ‖ coinb2 and ours coinb1 ‖ fold ‖ extranonce1 ‖ e2 ‖ coinb2
        ours = fold + conn.extranonce1
        n1 = len(up_job.extranonce1)
        sub = rec.submit
        en2 = ours[n1:] + sub.extranonce2
        if ours[:n1] != up_job.extranonce1 or len(en2) != up_job.extranonce2_size:
            self._count(session, "extranonce_mismatch")
            return None
        self._count(session, "forwarded")
        forms = None if sub.version_bits is None else version_forms(rec.version, up_job.notify.version,
                                                                   session.client.version_mask)
        task = asyncio.ensure_future(self._submit(session, up_job.job_id, en2, sub.ntime, sub.nonce, forms))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _submit(self, session: UpstreamSession, job_id: str, en2: bytes, ntime: int, nonce: int,
                      forms: tuple[int, int] | None) -> Refusal | None:
        client = session.client
        try:
            if forms is None:
                res = await client.submit(job_id, en2, ntime, nonce, None, worker=client.user)
            else:
                res = await self._submit_rolled(session, job_id, en2, ntime, nonce, forms)
        except (ConnectionError, TimeoutError) as exc:
            self._count(session, "upstream_errors")
            if isinstance(exc, TimeoutError) and client.connected.is_set():
                # connected but not answering (a hung pool, a NAT that dropped the flow): drop the session so it
                # reconnects, and meanwhile every share of it is refused, so miners see the outage and fail over
                self._count(session, "upstream_timeouts")
                log.warning("proxy: upstream %d did not answer a submit within %g s; reconnecting", session.index,
                            client.request_timeout_s)
                client.abort()
            else:
                log.warning("proxy: upstream %d submit failed: %s", session.index, exc or "timed out")
            return Refusal(Verdict.UPSTREAM_UNAVAILABLE,
                           f"Upstream pool did not take the share ({exc or 'timed out'}): share not forwarded")
        self.upstream_results.append(res)
        self._count(session, "upstream_accepted" if res.accepted else "upstream_rejected")
        if res.accepted:
            return None
        return Refusal(Verdict.UPSTREAM_REJECTED, f"Upstream pool rejected the share: {res.message}",
                       code=res.error_code or 20)

    async def _submit_rolled(self, session: UpstreamSession, job_id: str, en2: bytes, ntime: int, nonce: int,
                             forms: tuple[int, int]) -> SubmitResult:
        """Submit a version-rolled share in the form this upstream rebuilds; learn the form from its verdicts.

        Pools disagree on how submitted bits become the header version when the job version has bits inside the
        mask (docs/stratum.md): BIP310 pools (and ckpool, which ORs) take the BIP310 form, public-pool (which
        XORs) the difference form. When the two differ, a rejection of the form tried first is retried once in the
        other, and a form the upstream accepted is used first from then on. Both are the same hashed header, so a
        pool credits at most one of them (the other does not meet its target or is its duplicate)."""
        client = session.client
        first, second = forms if not session.version_xor else (forms[1], forms[0])
        res = await client.submit(job_id, en2, ntime, nonce, first, worker=client.user)
        if res.accepted or first == second or res.error_code in NOT_A_VERSION_REJECTION:
            return res
        self._count(session, "version_form_retries")
        retry = await client.submit(job_id, en2, ntime, nonce, second, worker=client.user)
        if retry.accepted:
            session.version_xor = second == forms[1]
            log.info("proxy: upstream %d rebuilds rolled versions from the %s form", session.index,
                     "difference (job ^ bits)" if session.version_xor else "BIP310")
            return retry
        return res


def version_forms(version: int, job_version: int, mask: int) -> tuple[int, int]:
    """(BIP310 form, difference form) of the version bits for header `version` of a job with `job_version`.

    BIP310 pools rebuild ``(job & ~mask) | bits`` and need ``version & mask``; public-pool rebuilds ``job ^ bits``
    and needs ``(version ^ job) & mask``; ckpool rebuilds ``job | bits`` and takes either when the miner kept the
    job's bits. They are equal unless the job version has bits inside the mask."""
    return version & mask, (version ^ job_version) & mask
