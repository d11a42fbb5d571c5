"""One downstream miner connection: line framing, limits, the Stratum methods, share validation.

A :class:`Connection` is an ``asyncio.Protocol`` (no per-line task or stream objects: cheaper at 10k shares/s).
It owns only its own state; anything shared (jobs, events, listeners, configuration) lives on the server.
Malformed input produces a JSON-RPC error reply on this connection only; limit violations close this
connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import re
import socket
import struct
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asicrc.native import DIFF1_TARGET

from .auth import peer_ip
from .gate import Refusal
from .limits import TokenBucket
from .validate import ERROR_CODES, ERROR_MESSAGES, Verdict, share_pow
from .work import Notify, StratumFormatError, Submit, candidate_versions

if TYPE_CHECKING:
    from .auth import IPAddress
    from .server import StratumServer

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_KEY = struct.Struct("<III")
_TARGET_HEX = re.compile(r"[0-9a-fA-F]{1,64}")
CLOSE_GRACE_S = 5.0  # a closed connection still flushing its replies is aborted after this
LINES_PER_TURN = 256  # lines handled per event-loop turn and connection: a flood cannot starve the others
# ESP-Miner answers mining.ping with {"id": N, "method": "pong", "params": []} (a request, not a result)
PONG_METHODS = frozenset({"pong", "mining.pong"})
NOT_NEGOTIATED = "Version bits sent, but version rolling was not negotiated (mining.configure)"


@dataclass(slots=True)
class SentJob:
    """A job as this connection received it (difficulty in force at that moment)."""

    notify: Notify
    difficulty: float
    sent_ns: int
    # the connection's version mask when the job was sent: firmware such as ESP-Miner applies a new
    # mining.set_version_mask only from the next notify on, so shares of older jobs may still use this one
    version_mask: int = 0
    seen: set[bytes] = field(default_factory=set)  # extranonce2 ‖ ntime ‖ nonce ‖ version of accepted shares


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """One submit as the server judged it (given to share listeners, e.g. the upstream proxy)."""

    t_ns: int
    connection: int
    device: str
    worker: str
    job_id: str
    verdict: Verdict
    error_code: int | None
    assigned_diff: float
    achieved_diff: float
    submit: Submit | None
    version: int  # rolled header version (0 if unknown)
    hash: bytes | None  # internal byte order
    header: bytes | None
    job_sent_ns: int = 0  # when the job was sent to this connection (server Clock; 0: job unknown)


class Connection(asyncio.Protocol):
    """State and protocol handling of one miner connection."""

    def __init__(self, server: StratumServer, conn_id: int) -> None:
        self.server = server
        self.id = conn_id
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.ip: IPAddress | None = None  # the peer's address (IPv4-mapped IPv6 folded to IPv4)
        self.ip_key = ""  # what per-address limits count by
        self.admitted = False  # the server's connection table took it (not refused at the door)
        self._buf = bytearray()
        self._paused = False
        self._closed = False
        self._lost = False  # connection_lost has run
        self._out: list[bytes] | None = None  # replies collected while processing one received chunk
        self._paused_t_ns = 0
        now = server.loop_time()
        self.opened_at = now
        self.last_line_at = now
        self.bucket = TokenBucket(server.limits.lines_per_s, server.limits.line_burst, now)
        # Stratum session state
        self.user_agent = ""
        self.subscribed = False
        self.extranonce_subscribed = False
        self.extranonce1 = b""
        self.extranonce2_size = server.config.extranonce2_size
        self.version_mask = 0
        self.workers: dict[str, str] = {}  # authorized worker -> device id of its shares (bounded by Limits)
        self.first_worker = ""
        # the first worker's device: the connection's identity. Empty until a worker authorizes, so strangers'
        # one-shot connections never become devices (events, features)
        self.device = ""
        self.auth_failures = 0
        self.difficulty = server.config.difficulty
        self.minimum_difficulty = 0.0
        self.difficulty_pinned = False  # a control hook set it: suggest_difficulty no longer applies
        self.jobs: OrderedDict[str, SentJob] = OrderedDict()
        self.stale_ids: deque[str] = deque(maxlen=256)
        self.share_keys = 0  # duplicate-detection keys held over all jobs (counted pool-wide by the server too)
        self.handshake_mode = False
        self._need_job = False
        # statistics for the hashrate estimate
        self.accepted = 0
        self.rejected = 0
        self.accepted_difficulty = 0.0
        self.authorized_ns = 0
        self.last_share_ns = 0
        self._server_requests: dict[int, asyncio.Future[Any]] = {}
        self._next_request_id = 1 << 30  # far from client ids so replies are unambiguous

    # ---- transport ---------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # find dead peers (power-cycled miners) without relying on the idle timeout
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        peer = transport.get_extra_info("peername")
        if peer:
            host = str(peer[0])
            self.peer = f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
            self.ip = peer_ip(host)
            self.ip_key = str(self.ip) if self.ip is not None else host
        self.server.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._lost = True
        for fut in self._server_requests.values():
            if not fut.done():
                fut.set_exception(ConnectionError("miner disconnected"))
        self._server_requests.clear()
        self._buf.clear()
        self.server.connection_closed(self)

    def close(self, reason: str = "", abort: bool = False, quiet: bool = False) -> None:
        """Close after flushing pending replies (or at once with `abort`). A peer that does not read is
        aborted after CLOSE_GRACE_S, so a closing connection cannot hold its write buffer forever. `quiet`: log
        the reason at debug level (closes a flood causes, counted in the server stats instead)."""
        if not self._closed and self.transport is not None:
            if reason:
                log.log(logging.DEBUG if quiet else logging.INFO, "stratum: closing connection %d (%s): %s",
                        self.id, self.peer, reason)
            self._closed = True
            self._buf.clear()
            transport = self.transport
            if abort:
                self._out = None
                transport.abort()
                return
            if self._out:
                transport.write(b"".join(self._out))
            self._out = None
            transport.close()
            asyncio.get_running_loop().call_later(CLOSE_GRACE_S, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if self.transport is not None and not self._lost:
            self.transport.abort()

    @property
    def closed(self) -> bool:
        return self._closed

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        t_ns = self.server.clock.now_ns()  # line arrival time for every line in this chunk
        self._buf += data
        self._feed(t_ns)

    def _feed(self, t_ns: int) -> None:
        # replies to all lines of this chunk leave in one write (one syscall for a pipelining miner)
        self._out = []
        try:
            self._process(t_ns)
        finally:
            out, self._out = self._out, None
            if out and self.transport is not None and not self.transport.is_closing():
                self._write(b"".join(out))

    def _process(self, t_ns: int) -> None:
        limits = self.server.limits
        buf = self._buf
        start = 0
        handled = 0
        while not self._closed:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            if handled >= LINES_PER_TURN:  # let other connections run; the rest follows on the next turn
                del buf[:start]
                self._paused_t_ns = t_ns
                self._pause_for(0.0)
                return
            if end - start > limits.max_line_bytes:
                self.send_error(None, 20, f"line longer than {limits.max_line_bytes} bytes")
                self.close("line too long")
                return
            now = self.server.loop_time()
            if not self.bucket.take(now):
                del buf[:start]
                self._paused_t_ns = t_ns  # the waiting lines keep their arrival time
                self._pause_for(self.bucket.wait_s())
                return
            line = bytes(buf[start:end])
            start = end + 1
            handled += 1
            self.last_line_at = now
            if line.strip():
                self.handle_line(line, t_ns)
        if self._closed:
            return
        del buf[:start]
        if len(buf) > limits.max_line_bytes:
            self.send_error(None, 20, f"line longer than {limits.max_line_bytes} bytes")
            self.close("line too long")

    def _pause_for(self, seconds: float) -> None:
        """Stop reading (TCP back-pressure) for `seconds` (rate limit), or until the next loop turn (0)."""
        if self.transport is None or self._paused:
            return
        self._paused = True
        self.transport.pause_reading()
        loop = asyncio.get_running_loop()
        if seconds > 0:
            loop.call_later(seconds, self._resume)
        else:
            loop.call_soon(self._resume)

    def _resume(self) -> None:
        self._paused = False
        if self._closed or self.transport is None:
            return
        self.transport.resume_reading()
        self._feed(self._paused_t_ns)

    # ---- writing -------------------------------------------------------------------------------------------
    def send_obj(self, obj: dict[str, Any]) -> None:
        if self._closed or self.transport is None:
            return
        data = _dumps(obj).encode() + b"\n"
        if self._out is not None:
            self._out.append(data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self.server.limits.max_write_buffer:
            self.server.stats["slow_readers_dropped"] += 1
            self.close("client does not read its replies", abort=True)

    def send_result(self, req_id: Any, result: Any) -> None:
        self.send_obj({"id": req_id, "result": result, "error": None})

    def send_error(self, req_id: Any, code: int, message: str) -> None:
        self.send_obj({"id": req_id, "result": None, "error": [code, message, None]})

    def send_method(self, method: str, params: list[Any]) -> None:
        self.send_obj({"id": None, "method": method, "params": params})

    def request(self, method: str, params: list[Any]) -> asyncio.Future[Any]:
        """Send a server->client request (e.g. mining.ping) and return a future for the reply's result."""
        req_id = self._next_request_id
        self._next_request_id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._closed:
            fut.set_exception(ConnectionError("miner disconnected"))
            return fut
        self._server_requests[req_id] = fut
        fut.add_done_callback(lambda _f: self._server_requests.pop(req_id, None))
        self.send_obj({"id": req_id, "method": method, "params": params})
        return fut

    # ---- dispatch ------------------------------------------------------------------------------------------
    def handle_line(self, line: bytes, t_ns: int) -> None:
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: deep nesting
            self.server.stats["malformed"] += 1
            self.send_error(None, 20, "Parse error: not a JSON object")
            return
        if not isinstance(msg, dict):
            self.server.stats["malformed"] += 1
            self.send_error(None, 20, "Invalid request: expected a JSON object")
            return
        req_id = msg.get("id")
        if req_id is not None and (not isinstance(req_id, (int, str)) or isinstance(req_id, bool)):
            self.server.stats["malformed"] += 1
            self.send_error(None, 20, "Invalid request: id must be an integer, a string or null")
            return
        method = msg.get("method")
        pong = isinstance(method, str) and method in PONG_METHODS  # (a list or dict is unhashable: no `in` first)
        if isinstance(req_id, int) and req_id in self._server_requests and (method is None or pong):
            fut = self._server_requests.pop(req_id)
            if not fut.done():
                fut.set_result(msg.get("result") if method is None else "pong")
            return
        if pong:  # the answer to a ping that already timed out: nothing to reply
            self.server.stats["late_pongs"] += 1
            return
        if not isinstance(method, str):
            self.server.stats["malformed"] += 1
            self.send_error(req_id, 20, "Invalid request: missing method")
            return
        params = msg.get("params", [])
        if params is None:
            params = []
        handler = _HANDLERS.get(method)
        if handler is None:
            self.server.stats["malformed"] += 1
            self.send_error(req_id, 20, f"Unknown method {method[:64]!r}")
            return
        if not isinstance(params, list) and method != "mining.submit":  # submit: judged (and recorded) as bad-params
            self.server.stats["malformed"] += 1
            self.send_error(req_id, 20, f"{method}: params must be a list")
            return
        try:
            handler(self, req_id, params, t_ns)
        except StratumFormatError as exc:
            self.server.stats["malformed"] += 1
            self.send_error(req_id, 20, f"{method}: {exc}")
        except Exception:  # a bug must cost one reply, not the miner's connection
            log.exception("stratum: %s from connection %d failed", method, self.id)
            self.server.stats["internal_errors"] += 1
            self.send_error(req_id, 20, f"{method}: internal error")

    # ---- methods -------------------------------------------------------------------------------------------
    def configure(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        if len(params) < 1 or not isinstance(params[0], list):
            raise StratumFormatError("params must be [extensions, {parameters}]")
        exts = [e for e in params[0] if isinstance(e, str)]
        opts = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        result: dict[str, Any] = {}
        for ext in exts:
            if ext == "version-rolling":
                requested = opts.get("version-rolling.mask", "ffffffff")
                try:
                    req_mask = int(str(requested), 16) & 0xFFFFFFFF
                except ValueError:
                    raise StratumFormatError(f"version-rolling.mask is not hex: {requested!r:.20}") from None
                self.version_mask = req_mask & self.server.config.version_mask
                result["version-rolling"] = self.server.config.version_mask != 0
                result["version-rolling.mask"] = f"{self.version_mask:08x}"
            elif ext == "minimum-difficulty":
                value = opts.get("minimum-difficulty.value")
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
                if isinstance(value, (int, float)) and ok:  # clipped: Infinity would go out as invalid JSON
                    self.minimum_difficulty = self.server.clip_difficulty(float(value))
                result["minimum-difficulty"] = ok
            elif ext == "subscribe-extranonce":
                self.extranonce_subscribed = True
                result["subscribe-extranonce"] = True
            else:
                result[ext] = False
        self.send_result(req_id, result)

    def subscribe(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        if params and isinstance(params[0], str):
            self.user_agent = params[0][:128]
        if not self.subscribed:
            self.extranonce1 = self.server.allocate_extranonce1(self)
            self.subscribed = True
        sid = f"{self.id:08x}"
        self.send_result(req_id, [[["mining.set_difficulty", sid], ["mining.notify", sid]],
                                  self.extranonce1.hex(), self.extranonce2_size])
        if self.workers:
            self.server.start_work(self)

    def authorize(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        if not params or not isinstance(params[0], str) or not params[0]:
            raise StratumFormatError("params must be [worker, password]")
        worker = params[0][:256]
        password = params[1] if len(params) > 1 and isinstance(params[1], str) else ""
        limits = self.server.limits
        if worker not in self.workers and len(self.workers) >= limits.max_workers_per_connection:
            self.server.stats["worker_cap_refusals"] += 1
            self.send_error(req_id, 24, f"Unauthorized worker {worker[:64]!r}: this connection already has "
                                        f"{len(self.workers)} workers (the pool's limit)")
            return
        reason = self.server.auth.refusal(worker, password, self.ip)
        if reason is not None:
            self.auth_failures += 1
            self.server.auth_refused(self, worker, reason)
            self.send_error(req_id, 24, f"Unauthorized worker {worker[:64]!r}: {reason}")
            if self.auth_failures >= limits.max_auth_failures:
                self.close(f"{self.auth_failures} refused authorizations")
            return
        first = not self.workers
        self.workers[worker] = self.server.device_for(worker, self.id)
        if first:
            self.first_worker = worker
            self.device = self.workers[worker]
            self.authorized_ns = t_ns
        self.send_result(req_id, True)
        self.server.connection_authorized(self, worker, first)
        if first and self.subscribed:
            self.server.start_work(self)

    def suggest_difficulty(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        if not params or not isinstance(params[0], (int, float)) or isinstance(params[0], bool) \
                or not params[0] > 0:
            raise StratumFormatError("params must be [positive difficulty]")
        self.send_result(req_id, True)
        policy = self.server.config.suggest_difficulty
        if self.difficulty_pinned or policy == "ignore":  # the pool's difficulty is the experiment's input
            self.server.stats["suggestions_ignored"] += 1
            return
        d = self.server.clip_difficulty(float(params[0]))
        if policy == "floor":
            d = max(d, self.difficulty)
        if d != self.difficulty:
            self.difficulty = d
            if self.subscribed and self.workers:
                self.send_method("mining.set_difficulty", [d])

    def extranonce_subscribe(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        self.extranonce_subscribed = True
        self.send_result(req_id, True)

    def multi_version(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        # Bitmain firmware (S9 bmminer) announces pre-BIP310 AsicBoost this way; pools acknowledge it and the
        # version bits are still only accepted inside the mask negotiated with mining.configure
        self.send_result(req_id, True)

    def suggest_target(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        if not params or not isinstance(params[0], str) or not _TARGET_HEX.fullmatch(params[0]) \
                or int(params[0], 16) == 0:
            raise StratumFormatError("params must be [target as 64 hex digits, non-zero]")
        difficulty = DIFF1_TARGET / int(params[0], 16)  # the target is big-endian hex here
        self.suggest_difficulty(req_id, [difficulty], t_ns)

    def ping(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        self.send_result(req_id, "pong")

    def get_transactions(self, req_id: Any, params: list[Any], t_ns: int) -> None:
        self.send_result(req_id, [])

    # ---- jobs ----------------------------------------------------------------------------------------------
    def send_job(self, notify: Notify, t_ns: int) -> None:
        """Send a job; the difficulty in force now is the one its shares are judged against."""
        if notify.clean:
            while self.jobs:
                self.retire_oldest_job()
        self._forget(self.jobs.pop(notify.job_id, None))
        self.jobs[notify.job_id] = SentJob(notify, self.difficulty, t_ns, self.version_mask)
        while len(self.jobs) > self.server.limits.max_jobs_per_connection:
            self.retire_oldest_job()
        self.send_method("mining.notify", notify.to_params())
        self.server.job_sent(self, notify, t_ns)

    def retire_oldest_job(self) -> None:
        """Drop the oldest job (its later shares are stale) and its duplicate memory."""
        if self.jobs:
            old_id, sent = self.jobs.popitem(last=False)
            self.stale_ids.append(old_id)
            self._forget(sent)

    def _forget(self, sent: SentJob | None) -> None:
        if sent is not None and sent.seen:
            self.share_keys -= len(sent.seen)
            self.server.share_keys_released(len(sent.seen))
            sent.seen.clear()

    def set_difficulty(self, difficulty: float) -> None:
        self.difficulty = difficulty
        self.send_method("mining.set_difficulty", [difficulty])

    # ---- shares --------------------------------------------------------------------------------------------
    def submit(self, req_id: Any, params: Any, t_ns: int) -> None:
        verdict, record = self._judge(params, t_ns)
        gate = self.server.share_gate
        decision = gate.admit(self, record) if gate is not None and verdict is Verdict.ACCEPTED else None
        if isinstance(decision, Refusal):  # e.g. the proxy cannot forward it: the miner must not hear "accepted"
            record = self._refused(record, decision)
            self.send_error(req_id, _code(decision), decision.message)
        elif decision is not None:  # held: the reply waits for the gate's answer (e.g. the upstream pool's)
            decision.add_done_callback(functools.partial(self._reply_held, req_id))
        elif (code := ERROR_CODES[verdict]) is None:
            self.send_result(req_id, True)
        elif verdict is Verdict.VERSION_OUT_OF_MASK and not self.version_mask:
            # e.g. a rental proxy in front of an Antminer that rolls versions without mining.configure: say why
            self.send_error(req_id, code, NOT_NEGOTIATED)
        else:
            self.send_error(req_id, code, ERROR_MESSAGES[verdict])
        if self.workers:  # a stranger's submits before authorizing are counted in stats, not published as events
            self.server.share_judged(self, record)
        else:
            self.server.stats[f"unattributed_{record.verdict}"] += 1
        if self._need_job:
            self._need_job = False
            self.server.push_job(self.id)

    def _refused(self, record: ShareRecord, refusal: Refusal) -> ShareRecord:
        self.accepted -= 1
        self.accepted_difficulty -= record.assigned_diff
        self.rejected += 1
        return dataclasses.replace(record, verdict=refusal.verdict, error_code=_code(refusal))

    def _reply_held(self, req_id: Any, fut: asyncio.Future[Refusal | None]) -> None:
        if fut.cancelled():
            self.send_error(req_id, 20, "share not forwarded: the pool is shutting down")
            return
        exc = fut.exception()
        if exc is not None:
            self.send_error(req_id, 20, f"share not forwarded: {exc}")
            return
        refusal = fut.result()
        if refusal is None:
            self.send_result(req_id, True)
        else:
            self.send_error(req_id, _code(refusal), refusal.message)

    def _judge(self, params: Any, t_ns: int) -> tuple[Verdict, ShareRecord]:
        sub: Submit | None = None
        job_id = ""
        worker = ""
        assigned = self.difficulty
        achieved = 0.0
        version = 0
        pow_hash: bytes | None = None
        header: bytes | None = None
        sent: SentJob | None = None

        def verdict_of(v: Verdict) -> tuple[Verdict, ShareRecord]:
            if v is Verdict.ACCEPTED:
                self.accepted += 1
                self.accepted_difficulty += assigned
                self.last_share_ns = t_ns
            else:
                self.rejected += 1
            device = self.workers.get(worker, self.device)
            return v, ShareRecord(t_ns, self.id, device, worker, job_id, v, ERROR_CODES[v], assigned,
                                  achieved, sub, version, pow_hash, header, sent.sent_ns if sent else 0)

        try:
            sub = Submit.from_params(params)
        except StratumFormatError:
            return verdict_of(Verdict.BAD_PARAMS)
        job_id, worker = sub.job_id[:64], sub.worker[:256]
        if not self.subscribed:
            return verdict_of(Verdict.NOT_SUBSCRIBED)
        if sub.worker not in self.workers:
            return verdict_of(Verdict.UNAUTHORIZED)
        sent = self.jobs.get(sub.job_id)
        if sent is None:
            return verdict_of(Verdict.STALE if sub.job_id in self.stale_ids else Verdict.JOB_NOT_FOUND)
        notify = sent.notify
        assigned = min(sent.difficulty, self.difficulty)
        if len(sub.extranonce2) != self.extranonce2_size:
            return verdict_of(Verdict.BAD_EXTRANONCE2)
        if not notify.ntime <= sub.ntime <= notify.ntime + self.server.config.ntime_window_s:
            return verdict_of(Verdict.NTIME_OUT_OF_RANGE)
        bits = sub.version_bits
        if bits is None:
            versions: tuple[int, ...] = (notify.version,)
        else:
            # the mask now, and (grace) the one in force when the job was sent
            masks = (self.version_mask,) if sent.version_mask == self.version_mask else \
                (self.version_mask, sent.version_mask)
            versions = tuple(dict.fromkeys(v for m in masks if not bits & ~m & 0xFFFFFFFF
                                           for v in candidate_versions(notify.version, bits, m)))
            if not versions:
                return verdict_of(Verdict.VERSION_OUT_OF_MASK)
        key = b""
        for version in versions:  # almost always one; two only for a job version with bits inside the mask
            key = sub.extranonce2 + _KEY.pack(sub.ntime, sub.nonce, version)  # compact: duplicate memory
            if key in sent.seen:
                return verdict_of(Verdict.DUPLICATE)
            achieved, pow_hash, header = share_pow(notify, self.extranonce1, sub.extranonce2, sub.ntime,
                                                   sub.nonce, version)
            if achieved >= assigned:
                break
        else:
            return verdict_of(Verdict.LOW_DIFFICULTY)
        sent.seen.add(key)
        self.share_keys += 1
        if len(sent.seen) >= self.server.limits.max_shares_per_job:
            # duplicate memory is full: retire the job (later shares on it are stale) and hand out a new one
            self._forget(self.jobs.pop(sub.job_id, None))
            self.stale_ids.append(sub.job_id)
            self._need_job = True
        self.server.share_key_added(self)
        return verdict_of(Verdict.ACCEPTED)


def _code(refusal: Refusal) -> int:
    code = refusal.code if refusal.code is not None else ERROR_CODES[refusal.verdict]
    return 20 if code is None else code


_HANDLERS = {
    "mining.configure": Connection.configure,
    "mining.subscribe": Connection.subscribe,
    "mining.authorize": Connection.authorize,
    "mining.suggest_difficulty": Connection.suggest_difficulty,
    "mining.extranonce.subscribe": Connection.extranonce_subscribe,
    "mining.submit": Connection.submit,
    "mining.ping": Connection.ping,
    "mining.multi_version": Connection.multi_version,
    "mining.suggest_target": Connection.suggest_target,
    "mining.get_transactions": Connection.get_transactions,
}
