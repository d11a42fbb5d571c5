"""The pool's listening sockets and their accept loop, with a real back-off when the process runs out of descriptors.

Why not ``loop.create_server``: when ``accept()`` fails with EMFILE/ENFILE/ENOBUFS/ENOMEM, asyncio (3.11-3.13)
reports it with a traceback, pauses the listener for a second and schedules a retry, but then keeps looping over
its accept batch, so one readiness event yields up to `backlog` (1024) tracebacks and as many retry timers, every
second, for as long as the shortage lasts (issue 13 measured ~4 MB/s of log); timers still pending when the server
closes then fail on the closed socket. Here a shortage stops the batch at once, pauses this listener for
`retry_s`, counts the failure (``accept_resource_errors`` in the server stats) and logs one WARNING per
`log_interval_s` with the count since the last one. Connections meanwhile wait in the kernel's listen backlog and
are accepted as soon as descriptors are free again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable

from ..vtime import VirtualTimeLoop

log = logging.getLogger(__name__)

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_BATCH = 64  # connections accepted per readiness event: a flood cannot hold the loop in accept()


class Listener:
    def __init__(self, name: str, stats: Counter[str], protocol_factory: Callable[[], asyncio.Protocol], *,
                 backlog: int = 1024, retry_s: float = 1.0, log_interval_s: float = 60.0) -> None:
        self.name = name
        self.stats = stats
        self.protocol_factory = protocol_factory
        self.backlog = backlog
        self.retry_s = retry_s
        self.log_interval_s = log_interval_s
        self.sockets: list[socket.socket] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._last_log = -float("inf")
        self._unlogged = 0
        self._closed = False
        self._virtual: VirtualTimeLoop | None = None

    async def open(self, host: str, port: int) -> int:
        """Bind and listen on every address `host` resolves to (one port for all); returns the port. OSError
        (from bind) leaves nothing open."""
        loop = asyncio.get_running_loop()
        if isinstance(loop, VirtualTimeLoop):  # a simulated experiment: the loop's in-memory loopback network
            self.port = loop.network.listen(host, self.port or port, self.protocol_factory)
            self._virtual = loop
            return self.port
        infos = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        seen: set[tuple[int, str]] = set()
        try:
            for family, kind, proto, _, addr in infos:
                if (family, str(addr[0])) in seen:
                    continue
                seen.add((family, str(addr[0])))
                sock = socket.socket(family, kind, proto)
                self.sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:  # as asyncio does: one socket per family, no dual-stack overlap
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((addr[0], self.port or port, *addr[2:]))
                sock.listen(self.backlog)
                sock.setblocking(False)
                self.port = self.port or int(sock.getsockname()[1])
        except OSError:
            self.close()
            raise
        if not self.sockets:
            raise OSError(errno.EADDRNOTAVAIL, f"{host!r} resolves to no address")
        self._loop = loop
        for sock in self.sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)
        return self.port

    def close(self) -> None:
        self._closed = True
        if self._virtual is not None:
            self._virtual.network.unlisten(None, self.port)
            self._virtual = None
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for sock in self.sockets:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()

    def _accept(self, sock: socket.socket) -> None:
        assert self._loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:  # the peer gave up while queued
                continue
            except OSError as exc:
                self._pause(sock, exc)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._wrap(conn))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _wrap(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self.protocol_factory, conn)
        except OSError as exc:  # e.g. the peer reset before the transport was made
            log.debug("%s: accepted connection lost at once: %s", self.name, exc)
            conn.close()

    def _pause(self, sock: socket.socket, exc: OSError) -> None:
        assert self._loop is not None
        key = "accept_resource_errors" if exc.errno in RESOURCE_ERRNOS else "accept_errors"
        self.stats[key] += 1
        now = time.monotonic()
        if now - self._last_log >= self.log_interval_s:
            more = f" ({self._unlogged} more since the last message)" if self._unlogged else ""
            log.warning("%s: cannot accept connections: %s; retrying every %g s, new connections wait in the "
                        "listen backlog%s", self.name, exc.strerror or exc, self.retry_s, more)
            self._last_log = now
            self._unlogged = 0
        else:
            self._unlogged += 1
        fd = sock.fileno()
        self._loop.remove_reader(fd)
        self._timers[fd] = self._loop.call_later(self.retry_s, self._resume, sock)

    def _resume(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        self._timers.pop(fd, None)
        if self._closed or fd < 0 or self._loop is None:
            return
        self._loop.add_reader(fd, self._accept, sock)
