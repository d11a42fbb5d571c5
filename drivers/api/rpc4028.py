"""cgminer/bmminer/bfgminer RPC client on TCP 4028: one JSON request per connection, reply ends with NUL.

Wire details handled here: the trailing `\\0` (and anything after it), old bmminer's `}{` between objects that
should be `},{`, non-UTF-8 bytes, replies that never end (size cap + timeout), STATUS E/F replies.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

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
        obj = json.loads(text)
    except json.JSONDecodeError as first:
        # Old bmminer writes consecutive objects as `}{`; the same fix cgminer exporters apply.
        try:
            obj = json.loads(text.replace("}{", "},{"))
        except json.JSONDecodeError:
            raise MalformedReply(f"4028 {command}: reply is not JSON ({first.msg} at char {first.pos})") from None
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
    try:
        return await asyncio.wait_for(_exchange(host, port, command, parameter), timeout_s)
    except TimeoutError:
        raise TransportError(f"4028 {command} to {host}:{port}: no complete reply within {timeout_s:g} s") from None


class _OneExchange(asyncio.Protocol):
    """One cgminer request on one connection: write it, collect the reply up to the NUL (or EOF), done.

    A plain Protocol rather than StreamReader/StreamWriter: a fleet daemon makes thousands of these a second and
    the streams' extra futures and callbacks were most of a poll's CPU."""

    def __init__(self, request: bytes, command: str, where: str, done: asyncio.Future[bytes]) -> None:
        self.request = request
        self.command = command
        self.where = where
        self.done = done
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buf += data
        if len(self.buf) > MAX_REPLY_BYTES:
            self.done.set_exception(MalformedReply(f"4028 {self.command}: reply larger than {MAX_REPLY_BYTES} bytes"))
        elif b"\0" in data:
            self.done.set_result(bytes(self.buf))

    def eof_received(self) -> bool:
        if not self.done.done():
            self.done.set_result(bytes(self.buf))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is not None:
            self.done.set_exception(TransportError(f"4028 {self.command} to {self.where}: {exc}"))
        else:
            self.done.set_result(bytes(self.buf))


async def _exchange(host: str, port: int, command: str, parameter: str | None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    where = f"{host}:{port}"
    try:
        transport, _ = await loop.create_connection(
            lambda: _OneExchange(encode_request(command, parameter), command, where, done), host, port)
    except OSError as exc:
        raise TransportError(f"4028 {command} to {where}: {exc.strerror or exc}") from None
    try:
        raw = await done
    finally:
        transport.close()
    return decode_reply(raw, command)


class RpcClient:
    """Bound host/port/timeout; one connection per command as the cgminer API requires."""

    def __init__(self, host: str, port: int = 4028, timeout_s: float = 3.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s

    async def command(self, command: str, parameter: str | None = None) -> dict[str, Any]:
        return await rpc_request(self.host, self.port, command, parameter, timeout_s=self.timeout_s)
