"""One serial port as an asyncio protocol: bytes in are handed to a callback with their arrival time (clock ns),
bytes out are queued without blocking; the host baud rate can be switched after the chip was told to."""

from __future__ import annotations

import asyncio
import termios
from collections.abc import Callable
from typing import Any

import serial
import serial_asyncio_fast

from ..api.errors import TransportError
from ..clock import Clock

DRAIN_POLL_S = 0.002


class SerialError(TransportError):
    """The serial port could not be opened, went away, or a chain did not answer as expected."""

    reason = "serial"


class SerialLink(asyncio.Protocol):
    def __init__(self, on_bytes: Callable[[bytes, int], None], clock: Clock) -> None:
        self._on_bytes = on_bytes
        self._clock = clock
        self._transport: Any = None
        self.lost: asyncio.Event = asyncio.Event()
        self.lost_reason = ""
        self.url = ""
        self.bytes_in = 0
        self.bytes_out = 0

    # asyncio.Protocol ----------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        t_ns = self._clock.now_ns()  # where the bytes arrived
        self.bytes_in += len(data)
        self._on_bytes(data, t_ns)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_reason = str(exc) if exc else "port closed"
        self.lost.set()

    # API -----------------------------------------------------------------------------------------------------
    async def open(self, url: str, baud: int) -> None:
        self.url = url
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await serial_asyncio_fast.create_serial_connection(
                loop, lambda: self, url, baudrate=baud, bytesize=8, parity="N", stopbits=1, rtscts=False,
                xonxoff=False,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SerialError(f"cannot open serial port {url}: {exc}") from None
        self.lost.clear()

    @property
    def alive(self) -> bool:
        return self._transport is not None and not self.lost.is_set()

    def write(self, data: bytes) -> None:
        if not self.alive:
            raise SerialError(f"serial port {self.url} is closed ({self.lost_reason or 'not open'})")
        self.bytes_out += len(data)
        self._transport.write(data)

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait until every byte written has left the UART (needed before a baud-rate switch): the transport's
        buffer and the kernel's output queue are polled empty, then ``tcdrain`` waits out the bytes still in the
        UART's hardware FIFO (in a thread, since it blocks; on a pty it returns at once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Polled: neither the transport's buffer nor the tty's output queue signals when it empties.
        for _ in range(int(timeout_s / DRAIN_POLL_S) + 1):
            if not self.alive:
                return
            if self._pending_out() == 0:
                fd = self._fd()
                if fd is not None:
                    try:
                        await asyncio.wait_for(asyncio.to_thread(termios.tcdrain, fd),
                                               max(0.01, deadline - loop.time()))
                    except TimeoutError:
                        break
                    except (termios.error, OSError):
                        pass  # not a tty (e.g. a socket:// URL): nothing more to wait for
                return
            if loop.time() > deadline:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        raise SerialError(f"serial port {self.url}: output did not drain within {timeout_s:g} s")

    def _fd(self) -> int | None:
        fd = getattr(self._transport.serial, "fd", None) if self._transport is not None else None
        return fd if isinstance(fd, int) and fd >= 0 else None

    async def pulse_hangup(self, hold_s: float = 0.1) -> None:
        """Hold the line hung up (speed B0: DTR and RTS drop) for ``hold_s``, then restore the speed: the reset
        line of the simulated chains (and of boards that wire reset to DTR). A no-op where there is no tty."""
        fd = self._fd()
        if fd is None or not self.alive:
            return
        try:
            attrs = termios.tcgetattr(fd)
            attrs[4] = attrs[5] = termios.B0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error:
            return
        await asyncio.sleep(hold_s)
        try:
            self._transport.serial.baudrate = self._transport.serial.baudrate  # re-applies pyserial's settings
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SerialError(f"serial port {self.url}: cannot restore the speed after the reset pulse: {exc}") from None

    def _pending_out(self) -> int:
        try:
            return int(self._transport.get_write_buffer_size()) + int(self._transport.serial.out_waiting)
        except (serial.SerialException, OSError):
            return 0

    async def set_baud(self, baud: int) -> None:
        await self.drain()
        if not self.alive:
            raise SerialError(f"serial port {self.url} is closed")
        try:
            self._transport.serial.baudrate = baud
            self._transport.serial.reset_input_buffer()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SerialError(f"serial port {self.url}: cannot switch to {baud} baud: {exc}") from None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
