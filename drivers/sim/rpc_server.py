"""A cgminer/bmminer-style RPC server (TCP, default port 4028) on 127.0.0.1.

Wire behaviour copied from the real API (protocols.md 2.6): one request per connection, either JSON
``{"command": "summary+stats", "parameter": "..."}`` or plain ``summary|param``; the reply is JSON followed by a NUL
byte, then the server closes. Several commands joined with ``+`` give ``{"summary": [reply], "stats": [reply]}``.
Old bmminer writes its stats objects as ``}{`` without the comma; ``bmminer_quirk`` reproduces that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..netbind import bind_error
from .faults import FaultKind, FaultState

log = logging.getLogger(__name__)

Handler = Callable[[str | None], dict[str, Any]]  # parameter -> reply object (with STATUS)


def status(code: int, msg: str, description: str, ok: bool = True) -> list[dict[str, Any]]:
    return [{"STATUS": "S" if ok else "E", "When": int(time.time()), "Code": code, "Msg": msg,
             "Description": description}]


def parse_request(raw: bytes) -> tuple[list[str], str | None] | None:
    """Commands and parameter of one request; None while incomplete. Raises ValueError on garbage."""
    text = raw.decode("utf-8", errors="replace").strip().rstrip("\0")
    if not text:
        return None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            return None  # maybe incomplete
        if not isinstance(obj, dict) or not isinstance(obj.get("command"), str):
            raise ValueError("request JSON needs a string 'command'")
        param = obj.get("parameter")
        return obj["command"].split("+"), None if param is None else str(param)
    command, _, param = text.partition("|")
    return command.split("+"), param or None


class RpcServer:
    """Serves `handlers[command](parameter)`; unknown commands get cgminer's 'Invalid command' (code 14)."""

    def __init__(self, handlers: Mapping[str, Handler], description: str, faults: FaultState,
                 host: str = "127.0.0.1", port: int = 0, bmminer_quirk: bool = False) -> None:
        self.handlers = handlers
        self.description = description
        self.faults = faults
        self.host = host
        self.port = port
        self.bmminer_quirk = bmminer_quirk
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        try:
            self._server = await asyncio.start_server(self._client, self.host, self.port)
        except OSError as exc:
            raise bind_error(exc, self.host, self.port, "4028 API") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    @property
    def listening(self) -> bool:
        return self._server is not None

    def reply(self, commands: list[str], param: str | None) -> bytes:
        if len(commands) == 1:
            body = self._one(commands[0], param)
            text = json.dumps(body)
            if self.bmminer_quirk and commands[0] == "stats":
                text = text.replace("}, {", "}{")
        else:
            text = json.dumps({c: [self._one(c, param)] for c in commands})
        return text.encode() + b"\0"

    def _one(self, command: str, param: str | None) -> dict[str, Any]:
        handler = self.handlers.get(command)
        if handler is None:
            return {"STATUS": status(14, "Invalid command", self.description, ok=False), "id": 1}
        body = handler(param)
        body.setdefault("id", 1)
        return body

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        try:
            buf = b""
            parsed: tuple[list[str], str | None] | None = None
            while parsed is None and len(buf) < 65536:
                chunk = await asyncio.wait_for(reader.read(4096), 5.0)
                buf += chunk
                try:
                    parsed = parse_request(buf)
                except ValueError as exc:
                    writer.write(json.dumps({"STATUS": status(23, f"Invalid JSON: {exc}", self.description,
                                                              ok=False), "id": 1}).encode() + b"\0")
                    break
                if not chunk:
                    break
            if parsed is not None:
                if self.faults.take(FaultKind.RPC_DISCONNECT) is not None:
                    return  # close without a reply
                writer.write(self.reply(*parsed))
                await writer.drain()
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
