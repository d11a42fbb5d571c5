"""Virtual time: an asyncio event loop whose clock jumps to the next timer whenever nothing is runnable, with an
in-memory loopback network, so a simulated experiment runs as fast as the CPU allows and the same seed replays
the same run exactly.

Why a loop and not a faster ``Clock``: the simulator, the Stratum server, the HTTP/4028 servers and the host
drivers all time themselves with ``asyncio.sleep``/``call_later``/timeouts, i.e. with the loop's clock. Making
that clock virtual puts every one of them on simulated time without changing them; CPU work takes no simulated
time, so a slow or loaded machine changes how long a run takes, never what it records.

Why an in-memory network: with real sockets the loop cannot tell "no data in flight" from "the kernel has not
delivered it yet" (loopback TCP is delivered in softirq context, which can be deferred), so it could jump ahead
of a reply and the run would depend on scheduling. Here ``create_server``/``create_connection`` (what
``asyncio.start_server``/``open_connection`` and aiohttp use) and the Stratum listener's hook
(``VirtualNetwork.listen``) connect protocol objects through :class:`MemoryTransport` pairs: bytes written are
delivered on the next loop iteration, in order, exactly as the peers' protocol code would receive them from TCP
(same protocols, same parsers, same framing; only the kernel is left out). Only loopback addresses exist on this
network; connecting anywhere else is refused.

Work handed to threads (``run_in_executor``, ``asyncio.to_thread``) takes no simulated time either: while any is
outstanding the loop waits for it in real time instead of jumping.

The daemon's real-time path never uses this module: only :func:`run_virtual` (the simulated experiments and
their tests) creates a :class:`VirtualTimeLoop`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import math
import selectors
import socket
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar, cast

from .clock import Clock
from .looprun import run_on_loop

T = TypeVar("T")

VIRTUAL_T0_NS = 1_000 * 10**9  # where virtual loop time starts (s > 0, so "long ago" sentinels stay in the past)
VIRTUAL_EPOCH_UNIX = 1_767_225_600.0  # what the virtual clock calls "now" at VIRTUAL_T0_NS (2026-01-01 00:00 UTC)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "", "0.0.0.0", "::"})
FIRST_LISTEN_PORT = 40_000  # ports handed out for port 0, in order (deterministic, unlike the kernel's)
FIRST_CLIENT_PORT = 50_000
EXTERNAL_WAIT_S = 0.05  # real seconds per wait for thread work, between re-checks
CLEANUP_TIMEOUT_S = 10.0  # simulated seconds for tasks left behind to finish once cancelled
SELF_PIPE_POLL_EVERY = 256  # loop iterations between polls of the self-pipe while no other fd is registered


class VirtualClock(Clock):
    """The Clock of a :class:`VirtualTimeLoop`: simulated time is the loop's time (speed 1 by definition; wall
    time does not enter)."""

    virtual = True

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__(1.0)
        self._loop = loop

    def now_ns(self) -> int:
        return self._loop.now_ns()

    def unix(self) -> float:
        return VIRTUAL_EPOCH_UNIX + (self._loop.now_ns() - VIRTUAL_T0_NS) / 1e9

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def wall_seconds(self, seconds: float) -> float:
        return seconds


class _VirtualSelector(selectors.DefaultSelector):
    """The loop's selector: polls without blocking; when nothing is ready and no thread work is outstanding,
    advances the loop's virtual clock by the timeout asyncio asked to wait (up to its next timer).

    While only the loop's own self-pipe is registered (the in-memory network has no file descriptors) and no
    thread works for the loop, nothing outside can make an fd ready, so most iterations skip the epoll system
    call (a tenth of a simulated run's CPU); every SELF_PIPE_POLL_EVERY-th one still polls, which drains the
    self-pipe and runs what a signal or call_soon_threadsafe woke (those are never part of a deterministic run)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None
        self.internal_fds = 0  # fds the loop registered for itself (its self-pipe), set once the loop exists
        self._skipped = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        if (loop is not None and timeout is not None and not loop.external_pending
                and len(self.get_map()) <= self.internal_fds and self._skipped < SELF_PIPE_POLL_EVERY):
            self._skipped += 1
            if timeout > 0:
                loop.advance(timeout)
            return []
        self._skipped = 0
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events or timeout == 0 or loop is None:
            return events
        if loop.external_pending or timeout is None:
            # a thread is working (or nothing is scheduled at all): wait for it in real time (its completion wakes
            # the loop's self-pipe); its result costs no simulated time
            return super().select(EXTERNAL_WAIT_S)
        loop.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time with an in-memory loopback network (see the module docstring)."""

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        selector.internal_fds = len(selector.get_map())
        self._now_ns = VIRTUAL_T0_NS
        self._clock_resolution = 1e-9
        self.external_pending = 0
        self.network = VirtualNetwork(self)
        self.clock = VirtualClock(self)

    # ---- time ------------------------------------------------------------------------------------------
    def time(self) -> float:
        return self._now_ns / 1e9

    def now_ns(self) -> int:
        return self._now_ns

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by `seconds` (rounded up to the nanosecond, so the due timer is due)."""
        if seconds > 0:
            self._now_ns += math.ceil(seconds * 1e9)

    # ---- thread work -----------------------------------------------------------------------------------
    def run_in_executor(self, executor: concurrent.futures.Executor | None,  # type: ignore[override]
                        func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        fut = super().run_in_executor(executor, func, *args)
        self.external_pending += 1
        fut.add_done_callback(self._external_done)
        return fut

    def _external_done(self, _fut: asyncio.Future[Any]) -> None:
        self.external_pending -= 1

    # ---- the loopback network --------------------------------------------------------------------------
    async def create_server(self, protocol_factory: Callable[[], asyncio.BaseProtocol],
                            host: str | Iterable[str] | None = None, port: int | None = None,
                            **_kwargs: Any) -> asyncio.Server:
        _refuse_unsupported(_kwargs, "sock", "ssl")
        hosts = [host] if host is None or isinstance(host, str) else list(host)
        listen_port = int(port or 0)
        for h in hosts:
            listen_port = self.network.listen(h, listen_port, protocol_factory)
        return VirtualServer(self, [(h, listen_port) for h in hosts], protocol_factory)

    async def create_connection(  # type: ignore[override]
        self, protocol_factory: Callable[[], asyncio.BaseProtocol], host: str | None = None,
        port: int | None = None, *, sock: socket.socket | None = None, **_kwargs: Any,
    ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        _refuse_unsupported(_kwargs, "ssl")
        if sock is not None:  # aiohttp: a socket "connected" by sock_connect below
            address = self.network.take_connected(sock)
            host, port = address
        if host is None or port is None:
            raise ValueError("host and port are needed on the virtual network")
        return self.network.connect(host, int(port), protocol_factory)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        host, port = str(address[0]), int(address[1])
        self.network.check_listening(host, port)
        self.network.mark_connected(sock, (host, port))


class VirtualServer(asyncio.Server):
    """What create_server returns on the virtual network (an asyncio.Server to its callers)."""

    def __init__(self, loop: VirtualTimeLoop, addresses: list[tuple[str | None, int]],
                 protocol_factory: Callable[[], asyncio.BaseProtocol]) -> None:
        super().__init__(loop, [], protocol_factory, None, 100, None)
        self._vloop = loop
        self._addresses = addresses
        self._open = True

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        if not self._open:
            return ()
        return tuple(cast(socket.socket, _SocketName((h or "127.0.0.1", p))) for h, p in self._addresses)

    def is_serving(self) -> bool:
        return self._open

    def _start_serving(self) -> None:
        return None

    def close(self) -> None:
        if self._open:
            self._open = False
            for h, p in self._addresses:
                self._vloop.network.unlisten(h, p)
        super().close()


class _SocketName:
    """Stands in for a listening socket in VirtualServer.sockets: callers only ask it its address."""

    def __init__(self, address: tuple[str, int]) -> None:
        self._address = address

    def getsockname(self) -> tuple[str, int]:
        return self._address

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET


def _refuse_unsupported(kwargs: dict[str, Any], *names: str) -> None:
    """TLS and pre-made listening sockets are not modelled: say so rather than run plaintext or on a wrong port."""
    given = [n for n in names if kwargs.get(n)]
    if given:
        raise ValueError(f"virtual network: {', '.join(given)}= is not supported (loopback TCP without TLS only)")


def _refused(host: str, port: int) -> ConnectionRefusedError:
    return ConnectionRefusedError(errno.ECONNREFUSED, f"virtual network: nothing listens on {host}:{port}")


class VirtualNetwork:
    """Loopback listeners of one VirtualTimeLoop, by port; connections are MemoryTransport pairs."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self.loop = loop
        self._listeners: dict[int, Callable[[], asyncio.BaseProtocol]] = {}
        self._next_listen = FIRST_LISTEN_PORT
        self._next_client = FIRST_CLIENT_PORT
        self._connected: dict[int, tuple[str, int]] = {}  # id(socket) -> address, between sock_connect and use
        self._accepting: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _check_host(host: str | None) -> str:
        h = host or ""
        if h not in LOOPBACK_HOSTS:
            raise OSError(errno.EADDRNOTAVAIL, f"virtual network: {h!r} is not a loopback address")
        return h

    def listen(self, host: str | None, port: int, protocol_factory: Callable[[], asyncio.BaseProtocol]) -> int:
        """Listen on `port` (0: the next free one); returns the port."""
        self._check_host(host)
        if port == 0:
            while self._next_listen in self._listeners:
                self._next_listen += 1
            port = self._next_listen
            self._next_listen += 1
        elif self._listeners.get(port, protocol_factory) is not protocol_factory:
            raise OSError(errno.EADDRINUSE, f"virtual network: port {port} is in use")
        self._listeners[port] = protocol_factory
        return port

    def unlisten(self, host: str | None, port: int) -> None:
        self._listeners.pop(port, None)

    def check_listening(self, host: str, port: int) -> None:
        self._check_host(host)
        if port not in self._listeners:
            raise _refused(host, port)

    def mark_connected(self, sock: socket.socket, address: tuple[str, int]) -> None:
        self._connected[id(sock)] = address

    def take_connected(self, sock: socket.socket) -> tuple[str, int]:
        address = self._connected.pop(id(sock), None)
        if address is None:
            raise OSError(errno.ENOTCONN, "virtual network: socket was not connected by this loop")
        sock.close()  # a placeholder: the bytes go through a MemoryTransport
        return address

    def socket_to(self, host: str, port: int) -> socket.socket:
        """A connected non-blocking socket to the listener on `port`, for code that drives raw sockets with
        add_reader/add_writer (the 4028 client): one end of an AF_UNIX socketpair, whose other end the listener's
        protocol gets as an accepted connection. A socketpair delivers in the sending call, so readiness never
        lags a write and the loop cannot jump ahead of a reply."""
        self.check_listening(host, port)
        factory = self._listeners[port]
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours.setblocking(False)
        theirs.setblocking(False)
        task = self.loop.create_task(self.loop.connect_accepted_socket(factory, theirs))
        self._accepting.add(task)
        task.add_done_callback(self._accepting.discard)
        return ours

    def connect(self, host: str, port: int, protocol_factory: Callable[[], asyncio.BaseProtocol],
                ) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
        self.check_listening(host, port)
        server_factory = self._listeners[port]
        client_port = self._next_client
        self._next_client += 1
        ip = "::1" if host == "::1" else "127.0.0.1"
        client_addr, server_addr = (ip, client_port), (ip, port)
        server_protocol = server_factory()
        client_protocol = protocol_factory()
        server_t = MemoryTransport(self.loop, server_protocol, sockname=server_addr, peername=client_addr)
        client_t = MemoryTransport(self.loop, client_protocol, sockname=client_addr, peername=server_addr)
        server_t.peer, client_t.peer = client_t, server_t
        # as with TCP, the accepting side learns of the connection in a later loop iteration than the connect
        self.loop.call_soon(server_t.start)
        client_t.start()
        return client_t, client_protocol


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory stream connection. write() delivers to the peer's protocol on the next loop
    iteration; pause_reading() holds incoming data (flow control, as a socket transport does); close() is a FIN
    (the peer sees eof_received, then its connection closes unless it keeps the half-open side); abort() is a
    reset (the peer's connection_lost gets ConnectionResetError)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.BaseProtocol, *,
                 sockname: tuple[str, int], peername: tuple[str, int]) -> None:
        super().__init__({"sockname": sockname, "peername": peername, "socket": None})
        self._loop = loop
        self._protocol = protocol
        self.peer: MemoryTransport | None = None
        self._closing = False  # this side will not write any more (close/abort called)
        self._lost = False  # connection_lost delivered
        self._paused = False
        self._inbox: collections.deque[bytes | None] = collections.deque()  # None: end of stream
        self._write_closed = False

    def start(self) -> None:
        if not self._lost:
            self._protocol.connection_made(self)

    # ---- writing -----------------------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._write_closed or not data:
            return
        peer = self.peer
        if peer is not None:
            self._loop.call_soon(peer._receive, bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        if self._write_closed or self._closing:
            return
        self._write_closed = True
        if self.peer is not None:
            self._loop.call_soon(self.peer._receive, None)

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    # ---- reading -----------------------------------------------------------------------------------------
    def is_reading(self) -> bool:
        return not self._paused and not self._lost

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._inbox:
                self._loop.call_soon(self._flush)

    def _receive(self, data: bytes | None) -> None:
        if self._lost:
            return
        self._inbox.append(data)
        if not self._paused and len(self._inbox) == 1:
            self._flush()

    def _flush(self) -> None:
        while self._inbox and not self._paused and not self._lost:
            data = self._inbox.popleft()
            if data is None:
                self._eof()
            else:
                self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        protocol = self._protocol
        if isinstance(protocol, asyncio.BufferedProtocol):
            view = memoryview(data)
            while view:
                buf = memoryview(protocol.get_buffer(len(view)))
                n = min(len(buf), len(view))
                buf[:n] = view[:n]
                protocol.buffer_updated(n)
                view = view[n:]
        elif isinstance(protocol, asyncio.Protocol):
            protocol.data_received(data)

    def _eof(self) -> None:
        protocol = self._protocol
        keep_open = protocol.eof_received() if isinstance(protocol, asyncio.Protocol | asyncio.BufferedProtocol) \
            else False
        if not keep_open:
            self.close()

    def _reset(self) -> None:
        self._inbox.clear()
        self._connection_lost(ConnectionResetError(errno.ECONNRESET, "connection reset by peer"))

    # ---- closing -----------------------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        peer = self.peer
        if peer is not None and not self._write_closed:
            self._loop.call_soon(peer._receive, None)
        self._loop.call_soon(self._connection_lost, None)

    def abort(self) -> None:
        if self._lost:
            return
        self._closing = True
        peer = self.peer
        if peer is not None:
            self._loop.call_soon(peer._reset)
        self._inbox.clear()
        self._loop.call_soon(self._connection_lost, None)

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self._inbox.clear()
        self._protocol.connection_lost(exc)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol


def run_virtual(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `factory()` to completion on a fresh VirtualTimeLoop (in the calling thread) and close the loop.

    Tasks left behind are cancelled and given CLEANUP_TIMEOUT_S of simulated time to finish."""
    return run_on_loop(VirtualTimeLoop(), factory, CLEANUP_TIMEOUT_S)


def running_virtual_loop() -> VirtualTimeLoop:
    """The running VirtualTimeLoop, for code that must be on virtual time (what run_virtual runs)."""
    loop = asyncio.get_running_loop()
    if not isinstance(loop, VirtualTimeLoop):
        raise RuntimeError(f"not on virtual time: the running loop is a {type(loop).__name__} (use run_virtual)")
    return loop
