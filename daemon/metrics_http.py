"""`/metrics` over HTTP, bounded: idle or slow clients cost a few bytes each, never a thread.

prometheus-client's own server starts a thread per connection and reads without a timeout, so every idle
connection on the port keeps a thread forever. Here one event loop on its own thread (so a scrape never waits on
the daemon's loop) reads requests with a total deadline, holds at most MAX_CONNECTIONS connections (a new one
evicts the oldest, so a flood cannot lock Prometheus out), renders the exposition on a small worker pool (one
scrape at a time per worker; at most MAX_PENDING_RENDERS waiting) and writes it with a deadline. One request per
connection (``Connection: close``), which is how Prometheus scrapes anyway.

Between scrapes, every PREPARE_S, a worker runs the exposition's `prepare()` (when given): it writes the lines of
the devices whose snapshot entries changed, so the formatting of a 10 000-device fleet is spread over the poll
interval and a scrape joins cached bytes and gzips them (level 1, on the worker: the text is repetitive enough
that level 1 is within 10 % of level 5's size at half its CPU).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gzip
import logging
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST

from asicrc.drivers.netbind import bind_error

log = logging.getLogger("asicrc.metrics")

MAX_CONNECTIONS = 256  # open connections held at once; the oldest goes when a new one arrives
MAX_REQUEST_BYTES = 8192  # request line + headers
REQUEST_DEADLINE_S = 5.0  # to send the whole request head
WRITE_DEADLINE_S = 10.0  # to take the whole response
RENDER_WORKERS = 2
MAX_PENDING_RENDERS = 8  # scrapes waiting for a worker; beyond this: 503
PREPARE_S = 1.0  # how often the exposition's device lines are brought up to date between scrapes
GZIP_LEVEL = 1


class MetricsServer:
    """Serves `render()` (the whole exposition text, e.g. `asicrc.daemon.metrics.exposition(...)`) on host:port
    from a daemon thread; `start()` binds (raising a clear OSError on a busy port) and returns the port; `stop()`
    closes everything. `prepare` (e.g. `Exposition.prepare`) runs on a worker every PREPARE_S while no scrape
    is rendering."""

    def __init__(self, render: Callable[[], bytes], host: str, port: int,
                 prepare: Callable[[], object] | None = None) -> None:
        self.render = render
        self.prepare = prepare
        self.host = host
        self.requested_port = port
        self.port = 0
        self.evicted = 0  # connections closed to make room (flood indicator)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._conns: OrderedDict[int, asyncio.StreamWriter] = OrderedDict()
        self._pool = concurrent.futures.ThreadPoolExecutor(RENDER_WORKERS, thread_name_prefix="metrics-render")
        self._renders = 0

    # ---- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> int:
        sock = self._bind()
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(target=self._run, args=(sock,), name="metrics-http", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise OSError(f"prometheus: server on {self.host}:{self.port} did not start")
        log.info("prometheus: serving /metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    def _bind(self) -> socket.socket:
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(self.host, self.requested_port,
                                                              type=socket.SOCK_STREAM)[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(addr)
                sock.listen(128)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            raise bind_error(exc, self.host, self.requested_port, "prometheus") from None
        sock.setblocking(False)
        return sock

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock))
        finally:
            loop.close()

    async def _serve(self, sock: socket.socket) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, sock=sock, limit=MAX_REQUEST_BYTES)
        self._ready.set()
        preparing = asyncio.create_task(self._prepare_loop()) if self.prepare is not None else None
        try:
            await self._stop.wait()
        finally:
            if preparing is not None:
                preparing.cancel()
            server.close()
            for writer in list(self._conns.values()):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _prepare_loop(self) -> None:
        assert self.prepare is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PREPARE_S)
            if self._renders:
                continue  # a scrape brings the lines up to date itself
            try:
                await loop.run_in_executor(self._pool, self.prepare)
            except RuntimeError:
                return  # the pool was shut down (stop())
            except Exception as exc:  # a bad snapshot must not end the tick: the next scrape reports it
                log.warning("prometheus: preparing the exposition failed: %s", exc)

    def _render(self, gzipped: bool) -> bytes:
        body = self.render()
        return gzip.compress(body, GZIP_LEVEL) if gzipped else body

    # ---- one connection --------------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = id(writer)
        if len(self._conns) >= MAX_CONNECTIONS:
            _, oldest = self._conns.popitem(last=False)
            oldest.close()
            self.evicted += 1
        self._conns[key] = writer
        try:
            async with asyncio.timeout(REQUEST_DEADLINE_S):
                head = await reader.readuntil(b"\r\n\r\n")
            status, ctype, body, encoding = await self._respond(head)
            extra = f"Content-Encoding: {encoding}\r\n" if encoding else ""
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
                         "Connection: close\r\n\r\n".encode() + (b"" if head.startswith(b"HEAD ") else body))
            async with asyncio.timeout(WRITE_DEADLINE_S):
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
            pass  # slow, silent, oversized or vanished client: just close
        finally:
            self._conns.pop(key, None)
            writer.close()

    async def _respond(self, head: bytes) -> tuple[str, str, bytes, str]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return "400 Bad Request", "text/plain", b"bad request\n", ""
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET /metrics\n", ""
        if target not in ("/", "/metrics"):
            return "404 Not Found", "text/plain", b"only /metrics is served here\n", ""
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if self._renders >= RENDER_WORKERS + MAX_PENDING_RENDERS:
            return "503 Service Unavailable", "text/plain", b"too many scrapes at once\n", ""
        gzipped = "gzip" in headers.get("accept-encoding", "")
        self._renders += 1
        try:
            loop = asyncio.get_running_loop()
            body = await loop.run_in_executor(self._pool, self._render, gzipped)
        finally:
            self._renders -= 1
        return "200 OK", CONTENT_TYPE_LATEST, body, "gzip" if gzipped else ""
