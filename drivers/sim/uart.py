"""The chip side of a simulated UART behind a pty pair: what a host's serial port is wired to.

A real UART line carries each byte for 10 bit times (8N1) at the speed its *sender* ran when it sent it. A pty
moves bytes instantly and only tells the other side the host's termios, so the line is modelled here:

- **Speed attribution.** Host-to-chip bytes are judged at the host's output speed in force when they were
  written, not when the simulator happens to read them. The slave side runs with ``EXTPROC`` and the master in
  packet mode (``TIOCPKT``), so every host ``tcsetattr`` wakes the simulator with a ``TIOCPKT_IOCTL`` status;
  the kernel returns a pending status before pending data, so bytes read before a status were written before
  the change. Bytes read after a status in the same wake may have been written on either side of it (the pty
  keeps no timestamps): they are delivered with every speed that was in force during the wake, and the chip
  accepts a byte if its own baud matches any of them. A host that drains and switches at once (ESP-Miner's
  ``SERIAL_set_baud`` after ``BM1366_set_max_baud``) therefore works however late the simulator reads, and
  bytes sent at a speed the chip does not run at are garbled as soon as the mismatch outlasts one read (the
  termios is also polled at every wake and tick, for hosts that clear ``EXTPROC``).
- **Wire time.** Chip-to-host frames queue on the chip's transmit line and reach the host when their last bit
  would have: ``len x 10 / chip baud`` after the line is free. The transmit FIFO is bounded
  (``tx_fifo_bytes``); a frame that would overflow it is dropped and counted, as a saturated chain loses
  nonces. They are garbled if the host's input speed differs from the chip's by more than the UART tolerance.
- **Reset line.** Linux ptys carry no BREAK (``tcsendbreak`` on a pty does nothing the other side can see) and
  no modem lines, so the reset is the POSIX hang-up: a host that sets its speed to ``B0`` holds the chain in
  reset; ``on_hangup`` fires once per hang-up. Hold it for >= 10 ms (ESP-Miner holds its reset pin 100 ms).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import os
import struct
import sys
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
UART_TOLERANCE = 0.05  # a UART samples correctly with a few % of clock mismatch
TIOCPKT = getattr(termios, "TIOCPKT", 0x5420)
TIOCPKT_IOCTL = 0x40
EXTPROC = getattr(termios, "EXTPROC", 0o200000)
CBAUD = getattr(termios, "CBAUD", 0o010017)
TCGETS2 = 0x802C542A  # Linux _IOR('T', 0x2A, struct termios2): exact speeds, also non-standard ones (BOTHER)
TERMIOS2 = struct.Struct("=4IB19s2I")
IMMEDIATE_S = 0.0005  # a frame due sooner than this is written at once instead of through a timer
BAUD_BY_CODE = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n.startswith("B") and n[1:].isdigit()}

ReceiveSink = Callable[[bytes, tuple[float, ...]], None]


def baud_compatible(chip_baud: float, host_baud: float) -> bool:
    """Whether a receiver at one speed decodes bytes sent at the other (both > 0, within the UART tolerance)."""
    return chip_baud > 0 and host_baud > 0 and abs(chip_baud - host_baud) / host_baud < UART_TOLERANCE


def host_speeds(fd: int) -> tuple[float, float]:
    """(output, input) speed in baud of the tty behind ``fd``; (0, 0) while the host holds it hung up (B0)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            fields = TERMIOS2.unpack(fcntl.ioctl(fd, TCGETS2, bytes(TERMIOS2.size)))
            cflag, ispeed, ospeed = fields[2], fields[6], fields[7]
            if cflag & CBAUD == termios.B0:
                return 0.0, 0.0
            return float(ospeed), float(ispeed or ospeed)
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return 0.0, 0.0
    ospeed = float(BAUD_BY_CODE.get(attrs[5], 0))
    return ospeed, float(BAUD_BY_CODE.get(attrs[4], 0)) or ospeed


@dataclass(slots=True)
class UartStats:
    bytes_in: int = 0  # host -> chip bytes read from the pty
    bytes_out: int = 0  # chip -> host bytes written to the pty
    tx_garbled: int = 0  # chip -> host bytes sent while the host listened at another speed
    tx_dropped: int = 0  # frames lost because the chip's transmit FIFO was full
    tx_overrun: int = 0  # bytes the host never read (its input buffer was full)
    speed_changes: int = 0  # host speed changes seen
    ambiguous_reads: int = 0  # reads whose bytes may have been written either side of a speed change
    hangups: int = 0  # B0 hang-ups (chain resets)


class PtyUart:
    """One UART line: ``open()`` makes the pty (``port_path`` is the host side), bytes from the host go to
    ``on_receive(data, host_speeds)``, ``send(frame, baud)`` puts a chip frame on the line."""

    def __init__(self, on_receive: ReceiveSink, on_hangup: Callable[[], None], rng: np.random.Generator,
                 tx_fifo_bytes: int = 4096, reset_baud: int = 115_200) -> None:
        if tx_fifo_bytes < 16:
            raise ValueError(f"tx_fifo_bytes must be >= 16, got {tx_fifo_bytes}")
        self._on_receive = on_receive
        self._on_hangup = on_hangup
        self._rng = rng
        self.tx_fifo_bytes = tx_fifo_bytes
        self._reset_baud = reset_baud
        self.port_path = ""
        self.stats = UartStats()
        self._master = -1
        self._slave = -1
        self._tx_speed = float(reset_baud)  # the host's output speed as last seen
        self._status_base = float(reset_baud)  # the speed before the changes the next TIOCPKT status reports
        self._hung = False
        self._tx_free = 0.0  # loop time at which the chip's transmit line is free
        self._tx_queue: collections.deque[asyncio.TimerHandle] = collections.deque()

    # ---- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> str:
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[3] |= EXTPROC  # every host tcsetattr then raises TIOCPKT_IOCTL on the master
        code = getattr(termios, f"B{self._reset_baud}")
        attrs[4] = attrs[5] = code
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        fcntl.ioctl(self._master, TIOCPKT, struct.pack("i", 1))
        flags = fcntl.fcntl(self._master, fcntl.F_GETFL)
        fcntl.fcntl(self._master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self.port_path = os.ttyname(self._slave)
        self._tx_speed = self._status_base = host_speeds(self._slave)[0]
        asyncio.get_running_loop().add_reader(self._master, self._on_readable)
        return self.port_path

    def close(self) -> None:
        self.flush_tx()
        if self._master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._master = self._slave = -1

    @property
    def is_open(self) -> bool:
        return self._master >= 0

    def host_baud(self) -> float:
        """The host's output speed now (0 while hung up)."""
        return host_speeds(self._slave)[0] if self._slave >= 0 else 0.0

    # ---- host -> chip ------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        speeds = [self._tx_speed]  # every host speed that may have been in force for the bytes read from here on
        pending: list[bytes] = []
        while True:
            try:
                packet = os.read(self._master, 65536)
            except (BlockingIOError, InterruptedError):
                before = self._tx_speed
                if self._look() != before:  # changed since the last look: bytes still unread may predate it
                    speeds.append(self._tx_speed)
                    continue
                break
            except OSError:  # the pty went away under us
                break
            if not packet:
                break
            if packet[0] == 0:  # data packet
                pending.append(packet[1:])
            elif packet[0] & TIOCPKT_IOCTL:
                # bytes read before this status were written before the change(s) it reports; bytes read after
                # it may have been written on either side of them
                self._deliver(pending, speeds)
                pending = []
                speeds = [self._status_base]
                self._status_base = self._look()
                speeds.append(self._status_base)
        self._deliver(pending, speeds)

    def poll(self) -> None:
        """Read what is pending and look at the host's termios now (the chain calls this every tick), so a
        speed change or hang-up is seen between reads even from a host that cleared ``EXTPROC``."""
        if self._master >= 0:
            self._on_readable()

    def _look(self) -> float:
        """The host's output speed now; fires ``on_hangup`` once when it becomes B0."""
        speed = host_speeds(self._slave)[0]
        if speed != self._tx_speed:
            self.stats.speed_changes += 1
            self._tx_speed = speed
        if speed == 0 and not self._hung:
            self._hung = True
            self.stats.hangups += 1
            self._on_hangup()
        elif speed > 0:
            self._hung = False
        return speed

    def _deliver(self, pending: list[bytes], speeds: list[float]) -> None:
        data = b"".join(pending)
        if not data:
            return
        self.stats.bytes_in += len(data)
        distinct = tuple(dict.fromkeys(speeds))
        if len(distinct) > 1:
            self.stats.ambiguous_reads += 1
        self._on_receive(data, distinct)

    # ---- chip -> host ------------------------------------------------------------------------------
    def send(self, frame: bytes, baud: float, at: float | None = None) -> bool:
        """Queue ``frame`` on the chip's transmit line at ``baud``; ``at`` is the loop time the chip produced it
        (default now; a reply is produced when its command has arrived, a nonce when it was found, even if the
        event loop gets to it late). It reaches the host when its last bit would. False if the FIFO was full at
        that time (dropped)."""
        if self._master < 0 or not frame:
            return False
        loop = asyncio.get_running_loop()
        now = loop.time()
        produced = now if at is None else at
        start = max(produced, self._tx_free)
        if (start - produced) * baud / BITS_PER_BYTE + len(frame) > self.tx_fifo_bytes:
            self.stats.tx_dropped += 1
            return False
        end = start + len(frame) * BITS_PER_BYTE / baud
        self._tx_free = end
        if end - now <= IMMEDIATE_S and not self._tx_queue:
            self._transmit(frame, baud, False)
        else:
            self._tx_queue.append(loop.call_at(end, self._transmit, frame, baud, True))
        return True

    def _transmit(self, frame: bytes, baud: float, queued: bool) -> None:
        if queued and self._tx_queue:
            self._tx_queue.popleft()
        if self._master < 0:
            return
        if not baud_compatible(baud, host_speeds(self._slave)[1]):
            self.stats.tx_garbled += len(frame)  # sampled at the wrong bit rate: noise on the host side
            frame = self._rng.integers(0, 256, len(frame), dtype=np.uint8).tobytes()
        try:
            written = os.write(self._master, frame)
        except (BlockingIOError, OSError):  # the host does not read: its buffer overruns
            written = 0
        self.stats.bytes_out += written
        self.stats.tx_overrun += len(frame) - written

    def flush_tx(self) -> None:
        """Drop every frame still queued on the transmit line (the chip was reset)."""
        while self._tx_queue:
            self._tx_queue.popleft().cancel()
        self._tx_free = 0.0


__all__ = ["BITS_PER_BYTE", "PtyUart", "UartStats", "baud_compatible", "host_speeds"]
