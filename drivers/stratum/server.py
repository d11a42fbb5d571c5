"""The Stratum v1 pool server: listens, hands out extranonce1 and jobs, judges shares, publishes events.

Control hooks (per connection, all synchronous and safe to call from any coroutine on the server's loop):
- :meth:`StratumServer.set_difficulty`: set difficulty now (the reservoir's rate encoding of its input goes here);
- :meth:`push_job` (make a fresh job now and send it), :meth:`send_job` (send a pre-generated job, e.g. made
  earlier with ``server.job_source.make_job``), :meth:`broadcast_job`;
- :meth:`set_handshake_mode`: one outstanding job; the next one is sent only when an accepted share arrives;
- :meth:`set_version_mask`, :meth:`set_extranonce`, :meth:`reconnect`, :meth:`ping`.
Observers: every submit of an authorized connection becomes an ``Event`` (kind share) on ``server.fanout``;
:meth:`add_share_listener` gets the full :class:`~.session.ShareRecord` (header, hash) synchronously;
:meth:`add_connection_listener` hears authorize/close; :meth:`add_job_sent_listener` hears every job sent.
Defences (all in ``server.stats``): worker allow-list with passwords/addresses (``ServerConfig.workers``),
per-address and total connection caps with eviction of pending handshakes (:mod:`.admission`), the connection
cap clamped to the descriptor budget, and one rate-limited line when accept() runs out of descriptors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source

from ..netbind import bind_error
from ..tasks import cancel_and_wait
from .admission import ConnectionTable
from .auth import WorkerAuth, WorkerCredentials
from .gate import ShareGate
from .hashrate import HashrateEstimate, hashrate_from_difficulty_sum
from .jobs import JobSource, PayloadJobSource, TemplateJobSource
from .limits import Limits, fd_budget
from .listener import Listener
from .session import Connection, ShareRecord
from .validate import Verdict
from .work import Notify

log = logging.getLogger(__name__)

DEVICE_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
AUTH_LOG_INTERVAL_S = 60.0  # refused authorizations are logged at most this often (with a count), not per line

# What mining.suggest_difficulty / suggest_target may do to a connection whose difficulty no control hook has set:
# "honour" (take it), "floor" (raise the difficulty to it, never lower), "ignore" (acknowledge, change nothing).
# A research pool's difficulty is the experiment's input signal, so the default is "ignore" (stock ESP-Miner
# suggests 1000 right after authorize). A control hook (set_difficulty / set_rate) always wins.
SuggestPolicy = Literal["honour", "floor", "ignore"]
SUGGEST_POLICIES: tuple[SuggestPolicy, ...] = ("honour", "floor", "ignore")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port (read StratumServer.port after start)
    difficulty: float = 1.0  # initial share difficulty of every connection
    min_difficulty: float = 1e-9
    max_difficulty: float = 1e15
    version_mask: int = 0x1FFFE000  # the most a miner may roll (BIP310); 0 disables version rolling
    extranonce1_prefix: bytes = b""  # proxy mode: the upstream extranonce1
    extranonce1_size: int = 4  # per-connection part of extranonce1
    extranonce2_size: int = 4
    job_interval_s: float = 30.0  # broadcast a fresh (not clean) job this often; 0: never
    ntime_window_s: int = 7200  # accepted ntime: job ntime .. job ntime + window
    # who may authorize: worker (or user part of user.worker) -> credentials; None: anyone under any name
    workers: Mapping[str, WorkerCredentials] | None = None
    allow_unknown_workers: bool = False  # with `workers`: names not listed may authorize too (listed ones stay locked)
    suggest_difficulty: SuggestPolicy = "ignore"
    lbry: bool = False  # LBRY jobs (10-param notify, 112-byte header, LBRY PoW)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if not 0 < self.extranonce1_size <= 8:
            raise ValueError(f"extranonce1_size must be in 1..8, got {self.extranonce1_size}")
        if not 1 <= self.extranonce2_size <= 16:
            raise ValueError(f"extranonce2_size must be in 1..16, got {self.extranonce2_size}")
        if not 0 < self.min_difficulty <= self.difficulty <= self.max_difficulty:
            raise ValueError("need 0 < min_difficulty <= difficulty <= max_difficulty, got "
                             f"{self.min_difficulty}, {self.difficulty}, {self.max_difficulty}")
        if self.suggest_difficulty not in SUGGEST_POLICIES:
            raise ValueError(f"suggest_difficulty must be one of {', '.join(SUGGEST_POLICIES)}, "
                             f"got {self.suggest_difficulty!r}")


ShareListener = Callable[[Connection, ShareRecord], None]
JobSentListener = Callable[[Connection, Notify, int], None]  # (connection, job, t_ns sent on the server Clock)
ConnectionListener = Callable[[Connection, str], None]  # (connection, "authorized" | "closed")


class StratumServer:
    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        job_source: JobSource | None = None,
        fanout: FanOut | None = None,
        clock: Clock = REAL_TIME,
        device_map: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        """`seed`: extranonce1 values and template jobs from this seed instead of fresh entropy (a simulated
        experiment that must replay exactly: the shares found depend on both)."""
        self.config = config or ServerConfig()
        self.limits = self.config.limits
        self.clock = clock
        self.fanout = fanout if fanout is not None else FanOut()
        en_size = len(self.config.extranonce1_prefix) + self.config.extranonce1_size + self.config.extranonce2_size
        self.job_source: JobSource = job_source or TemplateJobSource(en_size, clock=clock, lbry=self.config.lbry,
                                                                      seed=seed)
        self.current_job: Notify | None = None
        self.stats: Counter[str] = Counter()
        self.share_keys = 0  # duplicate-detection keys held by all connections (bounded by limits.max_share_keys)
        self.table = ConnectionTable(self.limits, self.stats)
        self.connections: dict[int, Connection] = self.table.all  # admitted, open connections
        self.auth = WorkerAuth(self.config.workers, self.config.allow_unknown_workers)
        self.share_gate: ShareGate | None = None  # the proxy's say before a valid share is called accepted
        self._listener: Listener | None = None
        self._auth_log_at = -AUTH_LOG_INTERVAL_S
        self._auth_unlogged = 0
        self._worker_devices: dict[str, str] = dict(device_map or {})
        # device -> difficulty a control hook set for it: a reconnecting miner of that device starts there, pinned
        # (only control hooks add entries, never what peers send)
        self._device_difficulty: dict[str, float] = {}
        self._share_listeners: list[ShareListener] = []
        self._connection_listeners: list[ConnectionListener] = []
        self._job_sent_listeners: list[JobSentListener] = []
        self._next_conn_id = 1
        self._en1_counter = int.from_bytes(os.urandom(4) if seed is None else
                                           hashlib.sha256(b"en1/%d" % seed).digest()[:4], "big")
        self._en1_prefix = self.config.extranonce1_prefix
        self._tasks: list[asyncio.Task[None]] = []
        self.port = self.config.port

    # ---- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.current_job is None:
            self.current_job = self.job_source.make_job(clean=True)
        listener = Listener("stratum server", self.stats, self._protocol, backlog=1024)
        try:
            self.port = await listener.open(self.config.host, self.config.port)
        except OSError as exc:
            raise bind_error(exc, self.config.host, self.config.port, "Stratum pool") from None
        self._listener = listener
        budget = fd_budget()
        if budget < self.limits.max_connections:
            log.warning("stratum server: connection cap lowered from %d to %d to fit the file-descriptor limit "
                        "(RLIMIT_NOFILE; raise LimitNOFILE for more)", self.limits.max_connections, budget)
        self.table.cap = min(self.limits.max_connections, budget)
        self._tasks.append(asyncio.create_task(self._sweep(), name="stratum-sweep"))
        if self.config.job_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._refresh_jobs(), name="stratum-jobs"))
        log.info("stratum server listening on %s:%d", self.config.host, self.port)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for conn in list(self.connections.values()):
            conn.close()

    async def __aenter__(self) -> StratumServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _protocol(self) -> asyncio.Protocol:
        conn = Connection(self, self._next_conn_id)  # admitted (or refused) once its peer is known
        self._next_conn_id += 1
        return conn

    def admit(self, conn: Connection) -> None:
        """Called by a new connection once its peer address is known: take it into the table or close it."""
        if self.table.admit(conn, self.loop_time()):
            self.stats["connections"] += 1
        else:
            conn.close("refused: connection limit", abort=True, quiet=True)

    @staticmethod
    def loop_time() -> float:
        # the loop's clock: simulated time on a virtual-time loop (asicrc.drivers.vtime), monotonic otherwise
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:  # no loop running (a connection built by hand): the same clock a real loop reads
            return time.monotonic()

    async def _sweep(self) -> None:
        """Close connections that did not finish the handshake, or went idle."""
        period = max(0.05, min(1.0, self.limits.handshake_timeout_s / 4, self.limits.idle_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            now = self.loop_time()
            for conn in list(self.connections.values()):
                if not (conn.subscribed and conn.workers) and now - conn.opened_at > self.limits.handshake_timeout_s:
                    self.stats["handshake_timeouts"] += 1
                    conn.close("handshake timeout", quiet=not conn.workers)  # strangers' sockets: no log line each
                elif now - conn.last_line_at > self.limits.idle_timeout_s:
                    self.stats["idle_timeouts"] += 1
                    conn.close("idle timeout")

    async def _refresh_jobs(self) -> None:
        while True:
            await self.clock.sleep(self.config.job_interval_s)
            self.push_job(None, clean=False)

    # ---- session callbacks (called by Connection) ---------------------------------------------------------
    def allocate_extranonce1(self, conn: Connection) -> bytes:
        size = self.config.extranonce1_size
        self._en1_counter = (self._en1_counter + 1) % (1 << (8 * size))
        return self._en1_prefix + self._en1_counter.to_bytes(size, "big")

    def auth_refused(self, conn: Connection, worker: str, reason: str) -> None:
        """A mining.authorize was refused: count it, and log it (rate-limited: a flood must not flood the log)."""
        self.stats["auth_failures"] += 1
        now = self.loop_time()
        if now - self._auth_log_at >= AUTH_LOG_INTERVAL_S:
            more = f" ({self._auth_unlogged} more refused since the last message)" if self._auth_unlogged else ""
            log.warning("stratum: refused worker %r from %s: %s%s", worker[:64], conn.peer, reason, more)
            self._auth_log_at = now
            self._auth_unlogged = 0
        else:
            self._auth_unlogged += 1

    def set_workers(self, workers: Mapping[str, WorkerCredentials] | None, allow_unknown: bool = False) -> None:
        """Replace who may authorize from now on (e.g. the daemon's device list after a reload); workers already
        authorized on live connections keep working."""
        self.auth = WorkerAuth(workers, allow_unknown)

    def map_worker(self, worker: str, device_id: str) -> None:
        """Attribute shares of `worker` to `device_id`, from now on (live connections included). A connection's
        own identity (state events, connections_for_device) is the device of its first worker."""
        self._worker_devices[worker] = device_id
        for conn in self.connections.values():
            if worker in conn.workers:
                conn.workers[worker] = device_id
                if conn.first_worker == worker:
                    conn.device = device_id

    def device_for(self, worker: str, conn_id: int) -> str:
        if worker in self._worker_devices:
            return self._worker_devices[worker]
        return DEVICE_ID_UNSAFE.sub("_", worker)[:64] or f"conn{conn_id}"

    def clip_difficulty(self, difficulty: float) -> float:
        return min(self.config.max_difficulty, max(self.config.min_difficulty, difficulty))

    def start_work(self, conn: Connection) -> None:
        """Subscribed and authorized: send difficulty and a first (clean) job."""
        conn.set_difficulty(max(conn.difficulty, conn.minimum_difficulty))
        if conn.handshake_mode or self.current_job is None:
            notify = self.job_source.make_job(clean=True)
        else:
            notify = dataclasses.replace(self.current_job, clean=True)
        conn.send_job(notify, self.clock.now_ns())

    def connection_authorized(self, conn: Connection, worker: str, first: bool = True) -> None:
        if first:
            self.table.authorized(conn)
            pinned = self._device_difficulty.get(conn.device)
            if pinned is not None:  # an experiment set this device's difficulty: a reconnect must not lose it
                conn.difficulty = pinned
                conn.difficulty_pinned = True
        self.fanout.publish(Event(self.clock.now_ns(), conn.device, Source.STRATUM, Kind.STATE,
                                  {"state": "online", "connection": conn.id, "worker": worker,
                                   "user_agent": conn.user_agent, "peer": conn.peer}))
        for listener in self._connection_listeners:
            listener(conn, "authorized")

    def share_key_added(self, conn: Connection) -> None:
        """`conn` stored one more duplicate key: past the pool's budget, the connection holding the most keys
        loses its oldest jobs until the pool is 1/64 below it (so the scan for the heaviest connection runs once
        per that many shares, not per share), with a fresh job if it has none left."""
        self.share_keys += 1
        if self.share_keys <= self.limits.max_share_keys:
            return
        while self.share_keys > self.limits.max_share_keys - self.limits.max_share_keys // 64:
            victim = max(self.connections.values(), key=lambda c: c.share_keys, default=None)
            if victim is None or victim.share_keys == 0:
                return
            self.stats["share_memory_trims"] += 1
            victim.retire_oldest_job()
            if not victim.jobs:  # it needs work again: after the reply now being judged (this may be its submit)
                asyncio.get_running_loop().call_soon(self._push_if_open, victim.id)

    def _push_if_open(self, conn_id: int) -> None:
        conn = self.connections.get(conn_id)
        if conn is not None and not conn.closed and not conn.jobs:
            self.push_job(conn_id, clean=True)

    def share_keys_released(self, count: int) -> None:
        self.share_keys -= count

    def connection_closed(self, conn: Connection) -> None:
        self.share_keys -= conn.share_keys
        conn.share_keys = 0
        self.table.remove(conn)
        if not conn.admitted:  # refused at the door: nobody heard of it
            return
        if conn.workers:
            self.fanout.publish(Event(self.clock.now_ns(), conn.device, Source.STRATUM, Kind.STATE,
                                      {"state": "offline", "connection": conn.id}))
        for listener in self._connection_listeners:
            listener(conn, "closed")

    def share_judged(self, conn: Connection, rec: ShareRecord) -> None:
        self.stats[str(rec.verdict)] += 1
        sub = rec.submit
        self.fanout.publish(Event(rec.t_ns, rec.device, Source.STRATUM, Kind.SHARE, {
            "job_id": rec.job_id,
            "assigned_diff": rec.assigned_diff,
            "achieved_diff": rec.achieved_diff,
            "nonce": sub.nonce if sub else 0,
            "version_bits": (sub.version_bits or 0) if sub else 0,
            "verdict": str(rec.verdict),
            "error_code": rec.error_code,
            "worker": rec.worker,
            "connection": rec.connection,
            "ntime": sub.ntime if sub else 0,
            "extranonce2": sub.extranonce2.hex() if sub else "",
            "job_sent_ns": rec.job_sent_ns,
        }))
        for listener in self._share_listeners:
            try:
                listener(conn, rec)
            except Exception:  # a faulty observer must not break the pool
                log.exception("stratum share listener failed")
        if conn.handshake_mode and rec.verdict is Verdict.ACCEPTED:
            self.push_job(conn.id, clean=True)

    def job_sent(self, conn: Connection, notify: Notify, t_ns: int) -> None:
        for listener in self._job_sent_listeners:
            try:
                listener(conn, notify, t_ns)
            except Exception:
                log.exception("stratum job-sent listener failed")

    # ---- observers -----------------------------------------------------------------------------------------
    def add_share_listener(self, listener: ShareListener) -> None:
        self._share_listeners.append(listener)

    def add_job_sent_listener(self, listener: JobSentListener) -> None:
        """`listener(conn, notify, t_ns)` after every job sent to any connection (first job, broadcasts,
        pushes, handshake-mode jobs): e.g. to measure share -> next-job gaps."""
        self._job_sent_listeners.append(listener)

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        self._connection_listeners.append(listener)

    # ---- control hooks -------------------------------------------------------------------------------------
    def connection(self, conn_id: int) -> Connection:
        conn = self.connections.get(conn_id)
        if conn is None or conn.closed:
            raise KeyError(f"no open stratum connection {conn_id}")
        return conn

    def connections_for_device(self, device: str) -> list[int]:
        return [c.id for c in self.connections.values() if c.device == device and not c.closed]

    def active_connections(self) -> list[Connection]:
        return [c for c in self.connections.values() if c.subscribed and c.workers and not c.closed]

    def broadcast_job(self, notify: Notify) -> None:
        """Make `notify` the current job and send it to every working connection not in handshake mode."""
        self.current_job = notify
        t_ns = self.clock.now_ns()
        for conn in self.active_connections():
            if not conn.handshake_mode:
                conn.send_job(notify, t_ns)

    def send_job(self, conn_id: int, notify: Notify) -> None:
        """Send a (possibly pre-generated) job to one connection now."""
        self.connection(conn_id).send_job(notify, self.clock.now_ns())

    def push_job(self, conn_id: int | None = None, clean: bool = False, payload: bytes | None = None) -> Notify:
        """Make a fresh job now; send it to one connection, or broadcast it when conn_id is None.

        `clean` makes the receiver(s) drop older jobs. Only a broadcast clean job starts a new block (new
        prevhash) in the job source; a clean job for one connection keeps the block every other connection is
        working on. `payload` goes into the job's coinbase (needs a job source that supports it, e.g.
        TemplateJobSource)."""
        new_block = clean and conn_id is None
        if payload is None:
            notify = self.job_source.make_job(clean=new_block)
        elif getattr(self.job_source, "supports_payload", False):
            notify = cast(PayloadJobSource, self.job_source).make_job(clean=new_block, payload=payload)
        else:
            raise ValueError(f"job source {type(self.job_source).__name__} cannot carry a coinbase payload")
        if clean and not notify.clean:
            notify = dataclasses.replace(notify, clean=True)
        if conn_id is None:
            self.broadcast_job(notify)
        else:
            self.send_job(conn_id, notify)
        return notify

    def set_difficulty(self, conn_id: int, difficulty: float, new_job: bool = True, clean: bool = True) -> float:
        """Set a connection's difficulty now; with `new_job` a fresh job follows so it takes effect at once.
        Returns the (clipped) difficulty sent. The difficulty is pinned: suggestions no longer change it, and a
        new connection of the same device (a reconnecting miner) starts at it, until :meth:`release_difficulty`."""
        conn = self.connection(conn_id)
        d = self.clip_difficulty(float(difficulty))
        conn.difficulty_pinned = True
        if conn.device:
            self._device_difficulty[conn.device] = d
        conn.set_difficulty(d)
        if new_job:
            self.push_job(conn_id, clean=clean)
        return d

    def release_difficulty(self, device: str) -> None:
        """Forget the difficulty a control hook set for `device`: its next connection starts at the configured
        difficulty, and suggestions apply to it again as the policy says. Live connections keep theirs."""
        self._device_difficulty.pop(device, None)

    def set_handshake_mode(self, conn_id: int, enabled: bool = True) -> None:
        """One outstanding job: a fresh job now, the next only after an accepted share (the paper's
        single-word handshake). Broadcasts skip this connection."""
        conn = self.connection(conn_id)
        conn.handshake_mode = enabled
        if enabled and conn.subscribed and conn.workers:
            self.push_job(conn_id, clean=True)

    def set_version_mask(self, conn_id: int, mask: int) -> int:
        conn = self.connection(conn_id)
        conn.version_mask = mask & self.config.version_mask
        conn.send_method("mining.set_version_mask", [f"{conn.version_mask:08x}"])
        return conn.version_mask

    def set_extranonce(self, conn_id: int, extranonce1: bytes | None = None,
                       extranonce2_size: int | None = None) -> bytes:
        """Give a connection a new extranonce1 (and size); only for miners that sent extranonce.subscribe.
        A clean job follows, since the new extranonce applies to the next job."""
        conn = self.connection(conn_id)
        if not conn.extranonce_subscribed:
            raise ValueError(f"connection {conn_id} did not subscribe to extranonce changes")
        conn.extranonce1 = extranonce1 if extranonce1 is not None else self.allocate_extranonce1(conn)
        if extranonce2_size is not None:
            conn.extranonce2_size = extranonce2_size
        conn.send_method("mining.set_extranonce", [conn.extranonce1.hex(), conn.extranonce2_size])
        self.push_job(conn_id, clean=True)
        return conn.extranonce1

    def set_extranonce_prefix(self, prefix: bytes, extranonce2_size: int) -> None:
        """Proxy: the upstream extranonce changed. Move every connection to the new space (set_extranonce
        where the miner supports it, client.reconnect otherwise)."""
        self._en1_prefix = prefix
        for conn in self.active_connections():
            if conn.extranonce_subscribed:
                conn.extranonce2_size = extranonce2_size
                self.set_extranonce(conn.id, self.allocate_extranonce1(conn), extranonce2_size)
            else:
                self.reconnect(conn.id)

    def reconnect(self, conn_id: int, host: str | None = None, port: int | None = None, wait_s: int = 0) -> None:
        params: list[Any] = [] if host is None else [host, port or self.port, wait_s]
        self.connection(conn_id).send_method("client.reconnect", params)

    async def ping(self, conn_id: int, timeout_s: float = 5.0) -> float:
        """mining.ping round trip in seconds (raises TimeoutError if the miner does not answer)."""
        t0 = time.perf_counter()
        await asyncio.wait_for(self.connection(conn_id).request("mining.ping", []), timeout_s)
        return time.perf_counter() - t0

    def hashrate(self, conn_id: int, confidence: float = 0.95) -> HashrateEstimate:
        """Hashrate of a connection from its accepted difficulty since it authorized (Poisson interval)."""
        conn = self.connection(conn_id)
        start = conn.authorized_ns or self.clock.now_ns()
        duration = max(1e-9, (self.clock.now_ns() - start) / 1e9)
        return hashrate_from_difficulty_sum(conn.accepted_difficulty, conn.accepted, duration, confidence)

    def connection_info(self, conn_id: int) -> dict[str, Any]:
        conn = self.connection(conn_id)
        return {"connection": conn.id, "device": conn.device, "workers": sorted(conn.workers),
                "peer": conn.peer, "user_agent": conn.user_agent, "extranonce1": conn.extranonce1.hex(),
                "extranonce2_size": conn.extranonce2_size, "difficulty": conn.difficulty,
                "version_mask": conn.version_mask, "accepted": conn.accepted, "rejected": conn.rejected,
                "handshake_mode": conn.handshake_mode}
