"""One serial port as an asyncio protocol: bytes in are handed to a callback with their arrival time (clock ns),
bytes out are queued without blocking; the host baud rate can be switched after the chip was told to."""

from __future__ import annotations

import asyncio
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
        """Wait until the transport's buffer is empty (needed before a baud-rate switch)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Polled: neither the transport's buffer nor the tty's output queue signals when it empties.
        for _ in range(int(timeout_s / DRAIN_POLL_S) + 1):
            if not self.alive or self._pending_out() == 0:
                return
            if loop.time() > deadline:
                break
            await asyncio.sleep(DRAIN_POLL_S)
        raise SerialError(f"serial port {self.url}: output did not drain within {timeout_s:g} s")

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
