"""cgminer/bmminer/bfgminer RPC client on TCP 4028: one JSON request per connection, reply ends with NUL.

Wire details handled here: the trailing `\\0` (and anything after it), old bmminer's `}{` between objects that
should be `},{`, non-UTF-8 bytes, replies that never end (size cap + timeout), STATUS E/F replies.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import os
import socket
from typing import Any

from ..vtime import VirtualTimeLoop
from .errors import ApiStatusError, MalformedReply, TransportError
from .fields import as_list, as_mapping

MAX_REPLY_BYTES = 4 * 1024 * 1024  # a full S9 stats reply is ~10 kB; anything this large is broken


def encode_request(command: str, parameter: str | None = None) -> bytes:
    req: dict[str, str] = {"command": command}
    if parameter is not None:
        req["parameter"] = parameter
    return json.dumps(req).encode()


def decode_reply(raw: bytes, command: str) -> dict[str, Any]:
    """Bytes as received -> the reply object. Raises MalformedReply naming the command."""
    body = raw.split(b"\0", 1)[0].strip()
    if not body:
        raise MalformedReply(f"4028 {command}: empty reply")
    text = body.decode("utf-8", errors="replace")
    try:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as first:
            # Old bmminer writes consecutive objects as `}{`; the same fix cgminer exporters apply.
            try:
                obj = json.loads(text.replace("}{", "},{"))
            except json.JSONDecodeError:
                raise MalformedReply(f"4028 {command}: reply is not JSON ({first.msg} at char {first.pos})") from None
    except RecursionError:  # e.g. 100 000 "[": the C decoder gives up on depth, not on syntax
        raise MalformedReply(f"4028 {command}: reply is nested too deeply to be a miner reply") from None
    reply = as_mapping(obj, f"4028 {command}")
    check_status(reply, command)
    return dict(reply)


def check_status(reply: Any, command: str) -> None:
    """Raise ApiStatusError for STATUS E/F. Multi-command replies ({"summary":[{...}], ...}) are checked per part."""
    reply = as_mapping(reply, f"4028 {command}")
    if "STATUS" not in reply:
        parts = [v for v in reply.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if not parts:
            raise MalformedReply(f"4028 {command}: reply has no STATUS")
        for part in parts:
            check_status(part[0], command)
        return
    status_list = as_list(reply["STATUS"], f"4028 {command}: STATUS")
    if not status_list:
        raise MalformedReply(f"4028 {command}: STATUS is empty")
    status = as_mapping(status_list[0], f"4028 {command}: STATUS[0]")
    code = status.get("STATUS")
    if code in ("E", "F"):
        raise ApiStatusError(f"4028 {command}: device answered {code}: {status.get('Msg', '')}")


async def rpc_request(
    host: str, port: int, command: str, parameter: str | None = None, *, timeout_s: float = 3.0
) -> dict[str, Any]:
    """Send one command, return the decoded reply. TransportError on connect/read problems or timeout."""
    return decode_reply(await exchange(host, port, encode_request(command, parameter), command, timeout_s), command)


async def exchange(host: str, port: int, request: bytes, command: str, timeout_s: float) -> bytes:
    """One request on one connection: the raw reply (up to and including the NUL, or all bytes until EOF), within
    one total deadline of `timeout_s` (name resolution, connect, reply)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    family = _literal_family(host)
    if family is None:  # a host name: resolved through the loop (off the loop thread) on every poll
        host, family = await _resolve(host, port, command, timeout_s)
    done: asyncio.Future[bytes] = loop.create_future()
    one = _Exchange(loop, done, command, f"{host}:{port}", request)
    try:
        one.start(family, host, port, deadline, timeout_s)
        return await done
    finally:
        one.close()


@functools.lru_cache(maxsize=1024)
def _literal_family(host: str) -> int | None:
    """AF_INET/AF_INET6 for an IP literal, None for a name (which needs a resolver)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family
    return None


async def _resolve(host: str, port: int, command: str, timeout_s: float) -> tuple[str, int]:
    where = f"{host}:{port}"
    try:
        async with asyncio.timeout(timeout_s):
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise TransportError(f"4028 {command} to {where}: no complete reply within {timeout_s:g} s") from None
    except OSError as exc:
        raise TransportError(f"4028 {command} to {where}: {exc.strerror or exc}") from None
    if not infos:
        raise TransportError(f"4028 {command} to {where}: the name resolves to no address")
    family, _, _, _, address = infos[0]
    return str(address[0]), int(family)


class _Exchange:
    """One cgminer request on a non-blocking socket driven by the loop's writer/reader callbacks.

    Neither StreamReader/Writer nor a Transport: a fleet daemon makes a thousand of these a second, and the
    transports' futures, tasks and callbacks (plus a wait_for task for the deadline) were most of a poll's CPU.
    Here one exchange is one socket, one future and one timer: connect (writable), send, read until the NUL or
    EOF, with the size cap and the total deadline."""

    __slots__ = (
        "buf",
        "command",
        "connected",
        "done",
        "fd",
        "loop",
        "reading",
        "request",
        "sock",
        "timer",
        "where",
        "writing",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[bytes], command: str, where: str,
                 request: bytes) -> None:
        self.loop = loop
        self.done = done
        self.command = command
        self.where = where
        self.request = request
        self.buf = bytearray()
        self.sock: socket.socket | None = None
        self.fd = -1
        self.timer: asyncio.TimerHandle | None = None
        self.connected = self.reading = self.writing = False

    def start(self, family: int, host: str, port: int, deadline: float, timeout_s: float) -> None:
        try:
            if isinstance(self.loop, VirtualTimeLoop):  # a simulated experiment: the loop's loopback network
                self.sock, err = self.loop.network.socket_to(host, port), 0
            else:
                self.sock = socket.socket(family, socket.SOCK_STREAM)
                self.sock.setblocking(False)
                err = self.sock.connect_ex((host, port))
        except OSError as exc:  # EMFILE (the unit's LimitNOFILE), ENOBUFS, ...
            self._fail(TransportError(f"4028 {self.command} to {self.where}: {exc.strerror or exc}"))
            return
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            self._fail(TransportError(f"4028 {self.command} to {self.where}: {os.strerror(err)}"))
            return
        self.fd = self.sock.fileno()
        self.timer = self.loop.call_at(deadline, self._fail, TransportError(
            f"4028 {self.command} to {self.where}: no complete reply within {timeout_s:g} s"))
        self.writing = True  # writable = connected, or failed (SO_ERROR says which)
        self.loop.add_writer(self.fd, self._writable)

    def _error(self, exc: OSError) -> None:
        self._fail(TransportError(f"4028 {self.command} to {self.where}: {exc.strerror or exc}"))

    def _writable(self) -> None:
        assert self.sock is not None
        if not self.connected:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail(TransportError(f"4028 {self.command} to {self.where}: {os.strerror(err)}"))
                return
            self.connected = True
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)
        try:
            sent = self.sock.send(self.request)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error(exc)
            return
        self.request = self.request[sent:]
        if not self.request:
            self.writing = False
            self.loop.remove_writer(self.fd)

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error(exc)
            return
        if not data:  # EOF: cgminer closes after the reply; the NUL may be missing on old firmware
            self._finish()
            return
        self.buf += data
        if len(self.buf) > MAX_REPLY_BYTES:
            self._fail(MalformedReply(f"4028 {self.command}: reply larger than {MAX_REPLY_BYTES} bytes"))
        elif b"\0" in data:  # only the new chunk: the NUL ends the reply
            self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(bytes(self.buf))
        self.close()

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)
        self.close()

    def close(self) -> None:
        """Idempotent: on completion, failure, the deadline, or the awaiting task's cancellation."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.reading:
            self.loop.remove_reader(self.fd)
        if self.writing:
            self.loop.remove_writer(self.fd)
        self.reading = self.writing = False
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class RpcClient:
    """Bound host/port/timeout; one connection per command as the cgminer API requires."""

    def __init__(self, host: str, port: int = 4028, timeout_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    async def command(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        return await rpc_request(self.host, self.port, command, parameter, timeout_s=self.timeout_s)

    async def raw(self, command: str, parameter: str | None = None) -> bytes:
        """The reply bytes as received, for a caller with its own decoder (decode_reply is the generic one)."""
        return await exchange(self.host, self.port, encode_request(command, parameter), command, self.timeout_s)
