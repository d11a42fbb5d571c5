"""One upstream session of the proxy: a real Stratum client session to a pool, and the jobs it relays downstream.

Two ways to turn an upstream job into downstream work (chosen by `UpstreamProxy`):

* direct (one session): the upstream notify goes out unchanged; miners' extranonce1 starts with the upstream
  extranonce1 E1, so the job id and the coinbase split are the pool's own.
* derived (several sessions, or on request): miners' extranonce1 is only their connection prefix k, so it cannot
  carry the E1 of every session. Each downstream job instead folds ``E1 ‖ zero pad ‖ variant`` into the end of
  coinb1: the downstream coinbase ``coinb1 ‖ fold ‖ k ‖ e2 ‖ coinb2`` is exactly the upstream coinbase with
  extranonce2 = ``pad ‖ variant ‖ k ‖ e2``. The variant (a counter) makes every job derived from the same upstream
  job distinct work, and each derived job gets its own id, so a share can be routed back to the session (and the
  upstream job) that issued it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, OrderedDict
from urllib.parse import unquote, urlsplit

from asicrc.drivers.clock import Clock

from .client import Job, StratumClient
from .work import Notify

# bytes of upstream extranonce2 the proxy spends (at most; fewer if the pool's extranonce2 is small) to make the
# jobs derived from one upstream job distinct work: 2 bytes repeat only after 65536 of them
VARIANT_SIZE = 2
DERIVED_HISTORY = 4096  # derived job ids remembered for routing shares (miners keep far fewer jobs)


def url_credentials(url: str) -> tuple[str | None, str | None]:
    """User and password given in a 'stratum+tcp://user:password@host:port' URL (None when absent)."""
    parts = urlsplit(url if "://" in url else f"stratum+tcp://{url}")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return user, password


class UpstreamSession:
    """A client session to one pool; also a job source (`make_job`) for the downstream server or the VBM."""

    def __init__(self, index: int, host: str, port: int, user: str, password: str, *, version_rolling: int | None,
                 clock: Clock, user_agent: str, request_timeout_s: float = 10.0) -> None:
        self.index = index
        self.client = StratumClient(host, port, user, password, user_agent=user_agent,
                                    version_rolling=version_rolling, clock=clock, auto_reconnect=True,
                                    request_timeout_s=request_timeout_s)
        self.client.add_job_listener(self._on_job)
        self.latest: Job | None = None
        self.previous: Job | None = None
        self.stats: Counter[str] = Counter()
        # this pool rebuilds rolled versions as job ^ bits (public-pool) rather than BIP310's: learned by the proxy
        self.version_xor = False
        # set by the proxy when it starts (they depend on every session's extranonce sizes)
        self.derive = False
        self.prefix_size = 0
        self.variant_size = 0
        self.downstream_extranonce2_size = 0
        self._variant = 0
        self._serial = 0
        self._derived: OrderedDict[str, tuple[str, bytes]] = OrderedDict()  # id -> (upstream job id, fold)

    def _on_job(self, job: Job) -> None:
        self.previous, self.latest = self.latest, job

    def session_changed(self) -> bool:
        """The latest job came with another extranonce1 / extranonce2 size than the one before it."""
        prev, cur = self.previous, self.latest
        return prev is not None and cur is not None and (
            prev.extranonce1 != cur.extranonce1 or prev.extranonce2_size != cur.extranonce2_size)

    def make_job(self, clean: bool = False) -> Notify:
        """Downstream work from the latest upstream job (RuntimeError if there is none or it cannot be used)."""
        job = self.latest
        if job is None:
            raise RuntimeError(f"upstream session {self.index} has no job yet")
        clean = clean or job.notify.clean
        if not self.derive:
            return dataclasses.replace(job.notify, clean=clean)
        pad = job.extranonce2_size - self.variant_size - self.prefix_size - self.downstream_extranonce2_size
        if pad < 0:  # the pool shrank the extranonce2 after a reconnect: our miners' space no longer fits
            raise RuntimeError(f"upstream session {self.index}: extranonce2 size {job.extranonce2_size} is too "
                               "small for the downstream layout")
        self._variant = (self._variant + 1) % (1 << (8 * self.variant_size))
        self._serial += 1
        fold = job.extranonce1 + bytes(pad) + self._variant.to_bytes(self.variant_size, "big")
        job_id = f"u{self.index}.{self._serial:x}"
        self._derived[job_id] = (job.job_id, fold)
        while len(self._derived) > DERIVED_HISTORY:
            self._derived.popitem(last=False)
        return dataclasses.replace(job.notify, job_id=job_id, coinb1=job.notify.coinb1 + fold, clean=clean)

    def resolve(self, job_id: str) -> tuple[Job, bytes] | None:
        """The upstream job behind a downstream job id, and the bytes folded into its coinb1 (b"" when direct);
        None if the job is not this session's or the upstream no longer has it."""
        if not self.derive:
            job = self.client.jobs.get(job_id)
            return None if job is None else (job, b"")
        entry = self._derived.get(job_id)
        if entry is None:
            return None
        up_id, fold = entry
        job = self.client.jobs.get(up_id)
        # after a reconnect the pool may reuse job ids under a new extranonce1: the fold must still match
        if job is None or not fold.startswith(job.extranonce1):
            return None
        return job, fold
