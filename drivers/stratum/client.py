"""A reusable asyncio Stratum v1 client (miner side).

Used by the upstream proxy and, subclassed/configured, by the simulator to behave like bmminer (S9),
ESP-Miner (LV06) or the LB-Box. It keeps the session state a miner needs (extranonce1/size, difficulty,
negotiated version mask, current jobs) and hands every new job to listeners as a :class:`Job`, which
can build headers directly.

Customisation points:
- constructor options (version-rolling mask or none, suggest_difficulty, extranonce.subscribe, user agent);
- override :meth:`StratumClient.handshake` to change the message order of a firmware;
- :meth:`add_job_listener` / override :meth:`on_job` ("a new job arrived": a miner loop reacts there),
  :meth:`on_difficulty`, :meth:`on_message` (any other server method), :meth:`on_disconnect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.usererror import UserError

from .work import Notify, StratumFormatError, Submit, build_header, rolled_version

log = logging.getLogger(__name__)

DEFAULT_VERSION_MASK = 0x1FFFE000


class StratumError(UserError):
    """The server answered a request with an error (code may be None for non-standard errors)."""


    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"{method}: error {code}: {message}")
        self.code = code
        self.message = message


def parse_error(error: Any) -> tuple[int | None, str]:
    """Normalise the error shapes seen in the wild: [code, msg, tb], {"code","message"}, a bare string."""
    if error is None:
        return None, ""
    if isinstance(error, (list, tuple)) and error:
        code = error[0] if isinstance(error[0], int) else None
        return code, str(error[1]) if len(error) > 1 else ""
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message", ""))
    return None, str(error)


MAX_RECONNECT_WAIT_S = 3600.0  # a pool's client.reconnect wait beyond this is clipped (not a way to park us forever)
_MASK_HEX = re.compile(r"[0-9a-fA-F]{1,8}")
_HOST = re.compile(r"[A-Za-z0-9.:_\[\]-]{1,253}")


def reconnect_target(params: list[Any], host: str, port: int) -> tuple[str, int, float] | str:
    """(host, port, wait) a pool's ``client.reconnect [host, port, wait]`` asks for, or why it is refused.

    Missing fields keep the current host/port; the port must be 1..65535 and the wait a finite number (clipped to
    MAX_RECONNECT_WAIT_S). Like cgminer (``parse_reconnect``), a pool may move us to another host only within its
    own domain (the part after the first dot), so one message cannot redirect our work, and our worker's
    credentials, to an arbitrary machine."""
    new_host = params[0] if params and isinstance(params[0], str) and params[0] else host
    if not _HOST.fullmatch(new_host):
        return f"bad host {new_host!r:.60}"
    new_port = port
    if len(params) > 1 and params[1] not in (None, ""):
        raw = params[1]
        if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit())):
            return f"bad port {raw!r:.20}"
        new_port = int(raw)
        if not 1 <= new_port <= 65535:
            return f"port {new_port} out of range"
    wait = 0.0
    if len(params) > 2 and isinstance(params[2], (int, float)) and not isinstance(params[2], bool):
        wait = float(params[2])
        if not math.isfinite(wait):
            return f"bad wait {params[2]!r}"
        wait = min(max(0.0, wait), MAX_RECONNECT_WAIT_S)
    if new_host != host and _domain(new_host) != _domain(host):
        return f"{new_host} is outside the pool's domain"
    return new_host, new_port, wait


def _domain(host: str) -> str:
    # cgminer's rule: compare what follows the first dot; a host without one has no domain to share
    dot = host.find(".")
    return host[dot:] if dot >= 0 else f"\0{host}"


@dataclass(frozen=True, slots=True)
class Job:
    """Everything needed to mine one notify: the job plus the session state in force when it arrived."""

    notify: Notify
    extranonce1: bytes
    extranonce2_size: int
    difficulty: float
    version_mask: int  # negotiated BIP310 mask (0: no version rolling)
    received_ns: int

    @property
    def job_id(self) -> str:
        return self.notify.job_id

    def header(self, extranonce2: bytes, ntime: int | None = None, nonce: int = 0,
               version_bits: int | None = None) -> bytes:
        """Header for this job; `version_bits` are rolled into the job version under the negotiated mask."""
        version = rolled_version(self.notify.version, version_bits, self.version_mask)
        return build_header(self.notify, self.extranonce1, extranonce2, ntime=ntime, nonce=nonce, version=version)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    accepted: bool
    error_code: int | None
    message: str
    latency_ns: int  # submit written -> response read, on the client's Clock


JobListener = Callable[[Job], Any]


class StratumClient:
    """One Stratum v1 session to host:port. ``await connect()`` opens it and runs :meth:`handshake`."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        password: str = "x",
        *,
        user_agent: str = "asicrc/0.1",
        version_rolling: int | None = DEFAULT_VERSION_MASK,
        min_bit_count: int = 2,
        suggest_difficulty: float | None = None,
        extranonce_subscribe: bool = False,
        clock: Clock = REAL_TIME,
        follow_reconnect: bool = True,
        auto_reconnect: bool = False,
        reconnect_delay_s: float = 1.0,
        request_timeout_s: float = 10.0,
        max_line: int = 1 << 20,
        max_jobs: int = 16,
    ) -> None:
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.user_agent = user_agent
        self.version_rolling = version_rolling
        self.min_bit_count = min_bit_count
        self.suggested_difficulty = suggest_difficulty
        self.want_extranonce_subscribe = extranonce_subscribe
        self.clock = clock
        self.follow_reconnect = follow_reconnect
        self.auto_reconnect = auto_reconnect
        self.reconnect_delay_s = reconnect_delay_s
        self.request_timeout_s = request_timeout_s
        self.max_line = max_line
        self.max_jobs = max_jobs
        # session state
        self.extranonce1 = b""
        self.extranonce2_size = 0
        self.difficulty = 1.0
        self.version_mask = 0
        self.authorized = False
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.job: Job | None = None
        self.jobs_received = 0
        self.submitted = 0
        self.accepted = 0
        self.rejected = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[Any]] = set()
        self._job_listeners: list[JobListener] = []
        self._new_job = asyncio.Event()
        self._closing = False
        self.connected = asyncio.Event()

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the TCP connection, start reading, run the handshake. If the handshake fails (e.g. the worker
        is refused) the connection is closed, without automatic reconnects, and the error raised."""
        self._closing = False
        await self._open()
        try:
            await self.handshake()
        except BaseException:
            self._closing = True
            await self._drop_connection()
            raise

    async def _open(self) -> None:
        reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=self.max_line), self.request_timeout_s
        )
        self._reader = reader
        self.authorized = False
        self.version_mask = 0
        self.jobs.clear()
        self.job = None
        self._read_task = asyncio.create_task(self._read_loop(reader), name=f"stratum-client-{self.user}")
        self.connected.set()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._bg):
            task.cancel()
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        self.connected.clear()
        writer, self._writer = self._writer, None
        task, self._read_task = self._read_task, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._fail_pending(ConnectionError("stratum connection closed"))

    def _fail_pending(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for _, fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    def abort(self) -> None:
        """Cut the TCP connection at once, without a FIN handshake (fault injection, tests)."""
        if self._writer is not None:
            self._writer.transport.abort()

    async def __aenter__(self) -> StratumClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- handshake (override to mimic a firmware's order) -------------------------------------------
    async def handshake(self) -> None:
        """configure (if version rolling) -> subscribe -> authorize -> suggest_difficulty -> extranonce.subscribe.

        Pools that refuse the optional methods (configure, suggest_difficulty, extranonce.subscribe) are fine:
        the session goes on without them, as miners do.
        """
        if self.version_rolling is not None:
            await self._optional(self.configure(self.version_rolling, self.min_bit_count))
        await self.subscribe()
        await self.authorize()
        if self.suggested_difficulty is not None:
            await self._optional(self.suggest_difficulty(self.suggested_difficulty))
        if self.want_extranonce_subscribe:
            await self._optional(self.extranonce_subscribe())

    async def _optional(self, request: Awaitable[Any]) -> Any:
        try:
            return await request
        except StratumError as exc:
            log.info("stratum client %s: pool refused optional request: %s", self.user, exc)
            return None

    async def configure(self, mask: int, min_bit_count: int = 2) -> int:
        """BIP310 version rolling; returns (and stores) the negotiated mask, 0 when the server refuses."""
        result = await self.call(
            "mining.configure",
            [["version-rolling"], {"version-rolling.mask": f"{mask:08x}",
                                   "version-rolling.min-bit-count": min_bit_count}],
        )
        negotiated = 0
        if isinstance(result, dict) and result.get("version-rolling") is True:
            try:
                negotiated = int(str(result.get("version-rolling.mask", "0")), 16)
            except ValueError:
                negotiated = 0
        self.version_mask = negotiated & mask
        return self.version_mask

    async def subscribe(self) -> None:
        result = await self.call("mining.subscribe", [self.user_agent])
        if not isinstance(result, (list, tuple)) or len(result) < 3:
            raise StratumFormatError(f"mining.subscribe result must be [subs, extranonce1, size], got {result!r:.80}")
        self._set_extranonce(result[1], result[2])

    async def authorize(self) -> bool:
        result = await self.call("mining.authorize", [self.user, self.password])
        self.authorized = result is True
        if not self.authorized:
            raise StratumError("mining.authorize", 24, f"worker {self.user!r} not authorized")
        return True

    async def suggest_difficulty(self, difficulty: float) -> Any:
        return await self.call("mining.suggest_difficulty", [difficulty])

    async def extranonce_subscribe(self) -> Any:
        return await self.call("mining.extranonce.subscribe", [])

    # ---- requests -------------------------------------------------------------------------------------
    def _send_obj(self, obj: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError("stratum client is not connected")
        self._writer.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    async def call(self, method: str, params: list[Any], timeout_s: float | None = None) -> Any:
        """Send a request and await its result; a server error raises :class:`StratumError`."""
        req_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (method, fut)
        try:
            self._send_obj({"id": req_id, "method": method, "params": params})
            return await asyncio.wait_for(fut, timeout_s or self.request_timeout_s)
        finally:
            self._pending.pop(req_id, None)

    async def submit(
        self,
        job_id: str,
        extranonce2: bytes,
        ntime: int,
        nonce: int,
        version_bits: int | None = None,
        worker: str | None = None,
    ) -> SubmitResult:
        """Submit a share (6 params when `version_bits` is given); a rejection is a result, not an exception."""
        sub = Submit(worker or self.user, job_id, bytes(extranonce2), ntime, nonce, version_bits)
        return await self.submit_params(sub.to_params())

    async def submit_params(self, params: list[Any]) -> SubmitResult:
        """Submit raw params (lets tests and simulators send forged or odd submits)."""
        self.submitted += 1
        t0 = self.clock.now_ns()
        try:
            result = await self.call("mining.submit", params)
        except StratumError as exc:
            self.rejected += 1
            return SubmitResult(False, exc.code, exc.message, self.clock.now_ns() - t0)
        ok = result is True
        self.accepted += ok
        self.rejected += not ok
        return SubmitResult(ok, None if ok else 20, "" if ok else f"result {result!r}", self.clock.now_ns() - t0)

    # ---- hooks ------------------------------------------------------------------------------------------
    def add_job_listener(self, listener: JobListener) -> None:
        """Call `listener(job)` for every new job (coroutines are scheduled as tasks)."""
        self._job_listeners.append(listener)

    def on_job(self, job: Job) -> None:
        """A new job arrived (default: notify listeners). Subclasses may override and call super()."""
        for listener in self._job_listeners:
            try:
                res = listener(job)
            except Exception:  # a faulty miner loop must not stop the session from reading
                log.exception("stratum client %s: job listener failed", self.user)
                continue
            if asyncio.iscoroutine(res):
                self._spawn(res)

    def on_difficulty(self, difficulty: float) -> None:
        """mining.set_difficulty received (applies to the next job)."""

    def on_message(self, method: str, params: Any) -> None:
        """A server method this class does not handle itself (e.g. client.show_message)."""
        log.debug("stratum client %s: unhandled %s %r", self.user, method, params)

    def on_disconnect(self) -> None:
        """The connection ended (before any automatic reconnect)."""

    async def wait_job(self, newer_than: Job | None = None, timeout_s: float | None = None) -> Job:
        """The current job, or wait for a job other than `newer_than`."""
        async def _wait() -> Job:
            while self.job is None or self.job is newer_than:
                self._new_job.clear()
                await self._new_job.wait()
            return self.job

        return await asyncio.wait_for(_wait(), timeout_s or self.request_timeout_s)

    # ---- reading ---------------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    def _set_extranonce(self, en1: Any, size: Any) -> None:
        if not isinstance(en1, str) or not isinstance(size, int) or not 0 <= size <= 32:
            raise StratumFormatError(f"bad extranonce: {en1!r:.40}, size {size!r:.20}")
        try:
            self.extranonce1 = bytes.fromhex(en1)
        except ValueError:
            raise StratumFormatError(f"extranonce1 is not valid hex: {en1!r:.40}") from None
        self.extranonce2_size = size

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    log.warning("stratum client %s: line longer than %d bytes; closing", self.user, self.max_line)
                    break
                if not line:
                    break
                t_ns = self.clock.now_ns()
                if line.strip():
                    self._handle_line(line, t_ns)
        except (ConnectionError, OSError):
            pass
        finally:
            if self._reader is reader:
                self._after_disconnect()

    def _after_disconnect(self) -> None:
        self.connected.clear()
        self._fail_pending(ConnectionError("stratum connection lost"))
        self.on_disconnect()
        if self.auto_reconnect and not self._closing:
            self._spawn(self._reconnect(self.host, self.port, self.reconnect_delay_s))

    def _handle_line(self, line: bytes, t_ns: int) -> None:
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            log.warning("stratum client %s: non-JSON line %r", self.user, line[:80])
            return
        if not isinstance(msg, dict):
            return
        method = msg.get("method")
        if isinstance(method, str):
            try:
                self._handle_server_method(method, msg.get("params"), msg.get("id"), t_ns)
            except StratumFormatError as exc:
                log.warning("stratum client %s: bad %s: %s", self.user, method, exc)
            except Exception:  # a hook override raising must not end the session
                log.exception("stratum client %s: handling %s failed", self.user, method)
            return
        msg_id = msg.get("id")
        pending = self._pending.pop(msg_id, None) if isinstance(msg_id, int) else None
        if pending is None:
            return
        req_method, fut = pending
        if fut.done():
            return
        if msg.get("error") is not None:
            code, text = parse_error(msg["error"])
            fut.set_exception(StratumError(req_method, code, text))
        else:
            fut.set_result(msg.get("result"))

    def _handle_server_method(self, method: str, params: Any, req_id: Any, t_ns: int) -> None:
        params = params if isinstance(params, list) else []
        if method == "mining.notify":
            notify = Notify.from_params(params)
            job = Job(notify, self.extranonce1, self.extranonce2_size, self.difficulty, self.version_mask, t_ns)
            if notify.clean:
                self.jobs.clear()
            self.jobs[notify.job_id] = job
            while len(self.jobs) > self.max_jobs:
                self.jobs.popitem(last=False)
            self.job = job
            self.jobs_received += 1
            self._new_job.set()
            self.on_job(job)
        elif method == "mining.set_difficulty":
            if not params or not isinstance(params[0], (int, float)) or not params[0] > 0:
                raise StratumFormatError(f"set_difficulty needs a positive number, got {params!r:.40}")
            self.difficulty = float(params[0])
            self.on_difficulty(self.difficulty)
        elif method == "mining.set_version_mask":
            if not params or not isinstance(params[0], str) or not _MASK_HEX.fullmatch(params[0]):
                raise StratumFormatError(f"set_version_mask needs a hex mask, got {params!r:.40}")
            self.version_mask = int(params[0], 16) & (self.version_rolling or 0)
        elif method == "mining.set_extranonce":
            if len(params) < 2:
                raise StratumFormatError(f"set_extranonce needs [extranonce1, size], got {params!r:.40}")
            self._set_extranonce(params[0], params[1])
        elif method == "client.reconnect":
            target = reconnect_target(params, self.host, self.port)
            if isinstance(target, str):
                log.warning("stratum client %s: ignoring client.reconnect from %s:%d: %s", self.user, self.host,
                            self.port, target)
            elif self.follow_reconnect:
                self._spawn(self._reconnect(*target))
        elif method == "mining.ping":
            if req_id is not None:
                self._send_obj({"id": req_id, "result": "pong", "error": None})
        elif method == "client.get_version":
            if req_id is not None:
                self._send_obj({"id": req_id, "result": self.user_agent, "error": None})
        else:
            self.on_message(method, params)

    async def _reconnect(self, host: str, port: int, wait_s: float) -> None:
        """Follow client.reconnect (or auto-reconnect): drop, wait, reopen and redo the handshake."""
        self._reader = None  # the old read loop must not trigger another reconnect
        await self._drop_connection()
        self.host, self.port = host, port
        delay = max(0.0, wait_s)
        while not self._closing:
            await self.clock.sleep(delay)
            try:
                await self._open()
                await self.handshake()
                return
            except (TimeoutError, OSError, ConnectionError, StratumError, ValueError) as exc:
                # ValueError: a malformed handshake reply (StratumFormatError) must not end the reconnect loop
                log.info("stratum client %s: reconnect to %s:%d failed: %s", self.user, host, port, exc)
                self._reader = None
                await self._drop_connection()
                delay = max(self.reconnect_delay_s, 0.05)
