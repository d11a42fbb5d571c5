"""BM1366 and BM1387 chains behind a pty pair: what a host UART driver sees of real chips.

The host opens ``chain.port_path`` (115200 8N1 at reset). Every host frame is decoded with the project's C codecs
(``asicrc.native.codecs``); frames with a bad CRC are dropped silently, as a chip does. The chips answer:
- register reads (one chip or all: each chip replies in chain order; reg 0 is the chip id, 0x1366 / 0x1387),
  register writes (one chip or all), chain-inactive and set-address (addresses are given in chain order);
- PLL writes (BM1366 reg 0x08, BM1387 reg 0x0C) set that chip's frequency in the physics (so the nonce rate and
  the heat follow); ticket-mask writes (0x14 / 0x18) set the difficulty of the nonces returned; BM1366's version
  mask (0xA4) enables version rolling; baud writes (BM1366 reg 0x28, BM1387 MISC_CONTROL 0x1C) switch the chip's
  UART: from then on, bytes exchanged while the host's tty runs at another speed are garbled, as on a wire;
- jobs (BM1366 82-byte headers, BM1387 1-4 midstates): the chips search real nonces (C sha256d / the C
  compression for midstates) and return nonce frames at the simulated times they are found.

Rates are scaled like the network devices: each chip hashes ``search_rate_hs x f_chip / f_nominal`` nonces per
simulated second, and the returned nonces meet ``ticket difficulty x difficulty_scale`` (default 2^-24), so the
ticket mask still thins the stream in the right proportion while a laptop core keeps up.

Chips hash in parallel, each in its own part of the nonce space, as on a real chain: a chip only produces
nonces whose chip field (the bits the codecs attribute chips by: BM1366 ``(nonce_h >> 17) & 0xFF``, BM1387
``nonce_h & 0xFF``, ``nonce_h`` = the nonce bytes read big-endian) lies in ``[address, address + interval)``,
its address as the host set it and the interval the spacing of the addresses (before enumeration: ``256 /
chips``). So a host decoding with its ``address_interval`` gets each nonce's chip right, and the per-chip nonce
rates follow each chip's clock and hardware-error rate (process variation, temperature, thermal shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import itertools
import os
import struct
import termios
import tty
from typing import Any

import numpy as np

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source
from asicrc.drivers.seeds import stable_int
from asicrc.native import codecs, difficulty_to_target, meets_target_batch
from asicrc.native._core import ffi, lib
from asicrc.native.codecs import Kind as FrameKind

from .faults import Fault, FaultKind, FaultState
from .params import BM1366_CHAIN, BM1387_CHAIN, SimParams, chain_spec
from .physics import Physics

RESET_FREQ_HZ = 50e6  # PLL at reset, before the host programs it
DEFAULT_DIFFICULTY_SCALE = 2.0**-24
MAX_HASHES_PER_TICK = 2_000_000  # bounds one tick's CPU time if the clock jumps
CHIP_FIELD_VALUES = 256  # the chip field of a nonce is 8 bits wide on both chips
BAUD_BY_CODE = {getattr(termios, n): int(n[1:]) for n in dir(termios) if n.startswith("B") and n[1:].isdigit()}


def _host_baud(fd: int) -> int:
    try:
        return BAUD_BY_CODE.get(termios.tcgetattr(fd)[5], 0)
    except termios.error:
        return 0


def _baud_compatible(a: float, b: float) -> bool:
    return b > 0 and abs(a - b) / b < 0.05  # a UART tolerates a few % of clock mismatch


@dataclasses.dataclass
class ChipJob:
    job_id: int
    headers: list[bytes]  # BM1366: one 80-byte header; BM1387: unused
    midstates: list[np.ndarray]  # BM1387: one state per midstate
    tail12: bytes  # BM1387: header bytes 64..76
    version: int
    cursors: np.ndarray  # per chip: position in its own part of the nonce space (taken modulo its size)


class SerialChainSim:
    """Common machinery; use :class:`SimBM1366Chain` or :class:`SimBM1387Chain`."""

    base_spec: SimParams
    chip_id: int
    reset_baud: float

    def __init__(self, serial: str = "chain-0001", seed: int = 0, clock: Clock = REAL_TIME, chips: int = 1, *,
                 ambient_c: float = 25.0, search_rate_hs: float = 20_000.0,
                 difficulty_scale: float = DEFAULT_DIFFICULTY_SCALE, tick_s: float = 0.05,
                 fanout: FanOut | None = None) -> None:
        if not 1 <= chips <= 64:
            raise ValueError(f"chips must be 1..64, got {chips}")
        if not search_rate_hs > 0 or not difficulty_scale > 0:
            raise ValueError("search_rate_hs and difficulty_scale must be > 0")
        self.serial = serial
        self.clock = clock
        self.chips = chips
        self.spec = chain_spec(self.base_spec, chips)
        self.physics = Physics(self.spec, serial, seed, ambient_c)
        self.physics.set_frequency(RESET_FREQ_HZ)
        self.rng = np.random.default_rng([seed & 0xFFFFFFFF, (stable_int(serial) + 2) & 0xFFFFFFFF])
        self.search_rate_hs = float(search_rate_hs)
        self.hash_scale = self.spec.freq_hz * self.spec.cores_per_chip / self.search_rate_hs
        self.difficulty_scale = float(difficulty_scale)
        self.tick_s = tick_s
        self.faults = FaultState()
        self.fanout = fanout if fanout is not None else FanOut()
        self.device_id = f"sim-{self.spec.name}-{serial}"
        self.addresses: list[int | None] = [None] * chips
        self.registers: list[dict[int, int]] = [{0: self._chip_id_value(i)} for i in range(chips)]
        self.ticket_difficulty = 1.0
        self.version_mask = 0
        self.chip_baud = self.reset_baud
        self.job: ChipJob | None = None
        self.jobs_received = 0
        self.nonces_sent = 0
        self.chip_nonces_sent = np.zeros(chips, dtype=np.int64)  # by the chip that found them
        self.frames_received = 0
        self.bytes_garbled = 0
        self.port_path = ""
        self._master = -1
        self._slave = -1
        self._decoder: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scan_until = 0.0
        self._last_t = 0.0
        self._variant = 0
        self._carry = np.zeros(chips)  # fractional hashes owed to each chip between ticks
        self._shutdown_seen = np.zeros(chips, dtype=bool)

    # ---- to be provided by the chip classes --------------------------------------------------------
    def _chip_id_value(self, index: int) -> int:
        raise NotImplementedError

    def _make_decoder(self) -> Any:
        raise NotImplementedError

    def _register_reply(self, chip: int, reg: int, value: int) -> bytes:
        raise NotImplementedError

    def _on_register_write(self, chip: int, reg: int, value: int) -> None:
        raise NotImplementedError

    def _job_from_record(self, rec: np.void) -> ChipJob | None:
        raise NotImplementedError

    def _scan(self, job: ChipJob, nonces: np.ndarray, target: int) -> list[tuple[int, int, int, int]]:
        """Hash `nonces` in order; return (index, nonce, reply job id, version bits) of each solution."""
        raise NotImplementedError

    def _subspace_nonces(self, lo: int, width: int, start: int, count: int) -> np.ndarray:
        """Nonces ``start .. start + count`` (mod its size) of the part of the nonce space whose chip field is in
        ``[lo, lo + width)``: ``width x 2^24`` nonces, enumerated in a fixed order."""
        raise NotImplementedError

    def _nonce_reply(self, nonce: int, job_id: int, version_bits: int, core: int) -> bytes:
        raise NotImplementedError

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the pty pair and start answering; ``port_path`` is the host side to open."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        fl = fcntl.fcntl(self._master, fcntl.F_GETFL)
        fcntl.fcntl(self._master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.port_path = os.ttyname(self._slave)
        self._decoder = self._make_decoder()
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._on_readable)
        now = self.clock.now()
        self._last_t = self._scan_until = now
        task = asyncio.create_task(self._loop(), name=f"{self.device_id}-physics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._publish(Kind.STATE, {"state": "online", "port": self.port_path, "chips": self.chips})

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._master = self._slave = -1

    def inject(self, fault: Fault) -> None:
        if fault.kind in (FaultKind.SERIAL_GARBAGE, FaultKind.SERIAL_DROP):
            self.faults.arm(fault)
        elif fault.kind is FaultKind.AMBIENT:
            self.physics.set_ambient(fault.value)
        elif fault.kind is FaultKind.CHIP_DEATH:
            self.physics.kill_chips([fault.target])
        elif fault.kind is FaultKind.FAN_DEATH:
            self.physics.fail_fans()
        else:
            raise ValueError(f"fault {fault.kind.value} does not apply to a serial chain")

    # ---- bytes in ----------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if not data:
            return
        if not _baud_compatible(self.chip_baud, _host_baud(self._slave)):
            self.bytes_garbled += len(data)  # sampled at the wrong bit rate: nothing decodes
            return
        for rec in self._decoder.feed(data):
            self.frames_received += 1
            self._handle(rec)

    def _handle(self, rec: np.void) -> None:
        kind = int(rec["kind"])
        if kind == FrameKind.JOB:
            job = self._job_from_record(rec)
            if job is not None:
                self.job = job
                self.jobs_received += 1
            return
        if kind != FrameKind.COMMAND:
            return
        hdr = int(rec["hdr"])
        code = hdr & 0x0F
        to_all = bool(hdr & 0x10)
        addr, reg, value = int(rec["chip_addr"]), int(rec["reg"]), int(rec["value"])
        targets = list(range(self.chips)) if to_all else [i for i, a in enumerate(self.addresses) if a == addr]
        if not to_all and not targets and addr == 0 and all(a is None for a in self.addresses):
            targets = list(range(self.chips))  # before enumeration every chip answers to address 0
        self._command(code, targets, addr, reg, value)

    def _command(self, code: int, targets: list[int], addr: int, reg: int, value: int) -> None:
        raise NotImplementedError

    def _assign_address(self, addr: int) -> None:
        for i, a in enumerate(self.addresses):
            if a is None:
                self.addresses[i] = addr
                return

    def _read(self, targets: list[int], reg: int) -> None:
        for i in targets:
            if self.physics.alive[i]:
                self._write(self._register_reply(i, reg, self.registers[i].get(reg, 0)))

    def _write_regs(self, targets: list[int], reg: int, value: int) -> None:
        for i in targets:
            self.registers[i][reg] = value
            self._on_register_write(i, reg, value)

    # ---- bytes out ---------------------------------------------------------------------------------
    def _write(self, frame: bytes) -> None:
        if self._master < 0:
            return
        drop = self.faults.take(FaultKind.SERIAL_DROP)
        if drop is not None:  # bytes of this frame lost on the wire
            k = int(drop.value)
            at = int(self.rng.integers(0, max(1, len(frame) - k + 1)))
            frame = frame[:at] + frame[at + k:]
        garbage = self.faults.take(FaultKind.SERIAL_GARBAGE)
        if garbage is not None:  # line noise before this frame
            frame = self.rng.integers(0, 256, int(garbage.value), dtype=np.uint8).tobytes() + frame
        if not _baud_compatible(self.chip_baud, _host_baud(self._slave)):
            frame = self.rng.integers(0, 256, len(frame), dtype=np.uint8).tobytes()
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, frame)  # a full buffer loses bytes, like a UART overrun

    # ---- hashing -----------------------------------------------------------------------------------
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            now = self.clock.now()
            self.physics.advance(max(0.0, now - self._last_t))
            self._last_t = now
            self._report_shutdowns()
            horizon = now + self.tick_s * self.clock.speed
            start = max(self._scan_until, now - 5 * self.tick_s * self.clock.speed)
            self._scan_until = horizon
            if self.job is None or horizon <= start:
                continue
            for t, chip, frame in self._scan_interval(self.job, start, horizon - start):
                delay = max(0.0, self.clock.wall_seconds(t - self.clock.now()))
                loop.call_later(delay, self._send_nonce, frame, chip)

    def _report_shutdowns(self) -> None:
        """A chip tripping at the junction limit (or coming back) is published, as a host would notice it."""
        now = self.physics.shutdown
        for chip in np.flatnonzero(now & ~self._shutdown_seen).tolist():
            self._publish(Kind.FAULT, {"reason": "thermal-shutdown", "chip": chip,
                                       "detail": f"chip {chip} reached {self.spec.t_shutdown_c} degC"})
        for chip in np.flatnonzero(~now & self._shutdown_seen).tolist():
            self._publish(Kind.STATE, {"state": "chip-online", "chip": chip,
                                       "detail": f"chip {chip} cooled below the restart temperature"})
        self._shutdown_seen = now.copy()

    def _send_nonce(self, frame: bytes, chip: int) -> None:
        self.nonces_sent += 1
        self.chip_nonces_sent[chip] += 1
        self._write(frame)

    def chip_field_ranges(self) -> tuple[list[int], int]:
        """Each chip's chip-field range ``[lo, lo + width)``: (lo per chip, width).

        ``lo`` is the chip's address (before enumeration: ``i x 256 / chips``); ``width`` the spacing of the
        addresses, as the host's ``address_interval`` must be for its attribution to work.
        """
        default = CHIP_FIELD_VALUES // self.chips
        lo = [default * i if a is None else a for i, a in enumerate(self.addresses)]
        distinct = sorted(set(lo))
        gaps = [b - a for a, b in itertools.pairwise(distinct)]
        width = min(gaps) if gaps else CHIP_FIELD_VALUES - distinct[0]
        return lo, max(1, min(width, CHIP_FIELD_VALUES - max(lo)))

    def _scan_interval(self, job: ChipJob, t0: float, dt: float) -> list[tuple[float, int, bytes]]:
        """Every chip searches its own part of the nonce space at its own rate over (t0, t0 + dt]."""
        rate = self.physics.chip_raw_hashrate_hs() / self.hash_scale
        budget = rate * dt + self._carry
        counts = np.minimum(np.floor(budget), MAX_HASHES_PER_TICK // self.chips).astype(np.int64)
        self._carry = np.where(counts < MAX_HASHES_PER_TICK // self.chips, budget - counts, 0.0)
        target = difficulty_to_target(self.ticket_difficulty * self.difficulty_scale)
        keep_p = 1.0 - self.physics.error_rate()  # a wrong result is dropped by the chip's own check
        lo, width = self.chip_field_ranges()
        out = []
        for chip in np.flatnonzero(counts > 0).tolist():
            count = int(counts[chip])
            start = int(job.cursors[chip])
            nonces = self._subspace_nonces(lo[chip], width, start, count)
            job.cursors[chip] = start + count
            for index, nonce, job_id, vbits in self._scan(job, nonces, target):
                if self.rng.random() >= keep_p[chip]:
                    continue
                core = int(self.rng.integers(0, 8))
                out.append((t0 + dt * (index + 1) / count, chip, self._nonce_reply(nonce, job_id, vbits, core)))
        out.sort(key=lambda x: x[0])  # the chips' frames interleave on the shared line
        return out

    def _random_cursors(self) -> np.ndarray:
        """A new job starts every chip at a random place of its part of the nonce space."""
        return self.rng.integers(0, 1 << 32, self.chips, dtype=np.int64)

    def _publish(self, kind: Kind, data: dict[str, Any]) -> None:
        self.fanout.publish(Event(self.clock.now_ns(), self.device_id, Source.SIM, kind, data))


class SimBM1366Chain(SerialChainSim):
    """BM1366 chips (ESP-Miner wire format: ``55 AA`` commands, 82-byte header jobs, 11-byte replies)."""

    base_spec = BM1366_CHAIN
    chip_id = 0x1366
    reset_baud = 25e6 / ((26 + 1) * 8)  # ~115,741 baud (MISC_CONTROL divider 26)

    def _chip_id_value(self, index: int) -> int:
        return 0x13660000

    def _make_decoder(self) -> Any:
        return codecs.BM1366HostDecoder()

    def _register_reply(self, chip: int, reg: int, value: int) -> bytes:
        return codecs.bm1366_register_reply(value, self.addresses[chip] or 0, reg)

    def _command(self, code: int, targets: list[int], addr: int, reg: int, value: int) -> None:
        if code == 0:  # set address
            self._assign_address(addr)
        elif code == 1:
            self._write_regs(targets, reg, value)
        elif code == 2:
            self._read(targets, reg)
        # code 3 (chain inactive): chips stop relaying until addressed; nothing to model on one line

    def _on_register_write(self, chip: int, reg: int, value: int) -> None:
        if reg == 0x08:  # PLL: 00 08 vdo fb refdiv post  -> value = vdo<<24 | fb<<16 | refdiv<<8 | post
            fb, refdiv, post = (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
            p1, p2 = (post >> 4) + 1, (post & 0x0F) + 1
            if fb and refdiv:
                self.physics.set_frequency(25e6 * fb / (refdiv * p1 * p2), [chip])
        elif reg == 0x14:
            self.ticket_difficulty = ticket_difficulty(value)
        elif reg == 0xA4:
            self.version_mask = ((value & 0xFFFF) << 13) & 0x1FFFE000
        elif reg == 0x28 and value == 0x11300200:
            self.chip_baud = 1_000_000.0

    def _job_from_record(self, rec: np.void) -> ChipJob | None:
        frame = codecs.host_frame_bytes(rec)
        p = frame[4:86]

        def words(b: bytes) -> bytes:
            return b"".join(b[i:i + 4] for i in range(len(b) - 4, -1, -4))

        header = p[78:82] + words(p[46:78]) + words(p[14:46]) + p[10:14] + p[6:10] + b"\0\0\0\0"
        return ChipJob(int(rec["job_id"]), [header], [], b"", int.from_bytes(p[78:82], "little"),
                       self._random_cursors())

    def _scan(self, job: ChipJob, nonces: np.ndarray, target: int) -> list[tuple[int, int, int, int]]:
        vbits = 0
        header = job.headers[0]
        if self.version_mask:
            self._variant = (self._variant + 1) & 0xFFFF
            vbits = (self._variant << 13) & self.version_mask
            header = struct.pack("<I", job.version | vbits) + header[4:]
        hits = np.flatnonzero(meets_target_batch(header, nonces, target).ok)
        return [(int(i), int(nonces[i]), job.job_id, vbits) for i in hits]

    def _subspace_nonces(self, lo: int, width: int, start: int, count: int) -> np.ndarray:
        # nonce_h = core (7 bits) | chip field (8 bits, 17..24) | 17 free bits; the free bits vary fastest
        k = (np.uint64(start) + np.arange(count, dtype=np.uint64)) % np.uint64(width << 24)
        rest = k >> np.uint64(17)
        field = np.uint64(lo) + rest % np.uint64(width)
        nonce_h = ((rest // np.uint64(width)) << np.uint64(25)) | (field << np.uint64(17)) | (k & np.uint64(0x1FFFF))
        nonces: np.ndarray = nonce_h.astype(np.uint32).byteswap()  # the nonce is those bytes read little-endian
        return nonces

    def _nonce_reply(self, nonce: int, job_id: int, version_bits: int, core: int) -> bytes:
        return codecs.bm1366_nonce_reply(nonce, job_id & 0xF8, core, version_bits)


class SimBM1387Chain(SerialChainSim):
    """BM1387 chips (VIL commands without preamble, 1-4 midstate work, 7-byte replies). Addresses step by 4."""

    base_spec = BM1387_CHAIN
    chip_id = 0x1387
    reset_baud = 25e6 / ((26 + 1) * 8)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("search_rate_hs", 5_000.0)  # midstate hashing goes through Python per nonce
        super().__init__(*args, **kwargs)

    def _chip_id_value(self, index: int) -> int:
        return 0x13879000

    def _make_decoder(self) -> Any:
        return codecs.BM1387HostDecoder()

    def _register_reply(self, chip: int, reg: int, value: int) -> bytes:
        if reg == 0:
            value = (value & 0xFFFFFF00) | (self.addresses[chip] or 0)
        return codecs.bm1387_register_reply(value)

    def _command(self, code: int, targets: list[int], addr: int, reg: int, value: int) -> None:
        if code == 1:
            self._assign_address(addr)
        elif code == 8:
            self._write_regs(targets, reg, value)
        elif code == 4:
            self._read(targets, reg)

    def _on_register_write(self, chip: int, reg: int, value: int) -> None:
        if reg == 0x0C:  # fbdiv<<16 | refdiv<<8 | postdiv1<<4 | postdiv2
            fb, refdiv = (value >> 16) & 0xFFF, (value >> 8) & 0xFF
            p1, p2 = (value >> 4) & 0x0F, value & 0x0F
            if fb and refdiv and p1 and p2:
                self.physics.set_frequency(25e6 * fb / (refdiv * p1 * p2), [chip])
        elif reg == 0x18:
            self.ticket_difficulty = ticket_difficulty(value)
        elif reg == 0x1C:  # MISC_CONTROL: baud divider in bits 12:8
            self.chip_baud = 25e6 / 8 / (((value >> 8) & 0x1F) + 1)

    def _job_from_record(self, rec: np.void) -> ChipJob | None:
        frame = codecs.host_frame_bytes(rec)
        tail = frame[16:20] + frame[12:16] + frame[8:12]  # header bytes 64..76 (words in reverse on the wire)
        states = [np.array(struct.unpack(">8I", m[::-1]), dtype=np.uint32)
                  for m in codecs.bm1387_work_midstates(rec)]
        return ChipJob(int(rec["job_id"]), [], states, tail, 0, self._random_cursors())

    def _scan(self, job: ChipJob, nonces: np.ndarray, target: int) -> list[tuple[int, int, int, int]]:
        idx = self._variant % len(job.midstates)
        self._variant += 1
        found = []
        state = ffi.new("uint32_t[8]")
        mid = job.midstates[idx].tobytes()
        block = bytearray(job.tail12 + b"\0\0\0\0" + b"\x80" + bytes(39) + struct.pack(">Q", 640))
        for k, nonce in enumerate(nonces.tolist()):
            block[12:16] = nonce.to_bytes(4, "little")
            ffi.memmove(state, mid, 32)
            lib.asicrc_sha256_compress(state, bytes(block))
            digest = hashlib.sha256(struct.pack(">8I", *state)).digest()
            if int.from_bytes(digest, "little") <= target:
                found.append((k, nonce, (job.job_id + idx) & 0xFF, 0))
        return found

    def _subspace_nonces(self, lo: int, width: int, start: int, count: int) -> np.ndarray:
        # the chip field is nonce_h's low byte = header byte 79 = the nonce's top byte: one contiguous range
        k = (np.uint64(start) + np.arange(count, dtype=np.uint64)) % np.uint64(width << 24)
        return ((np.uint64(lo) << np.uint64(24)) + k).astype(np.uint32)

    def _nonce_reply(self, nonce: int, job_id: int, version_bits: int, core: int) -> bytes:
        return codecs.bm1387_nonce_reply(nonce, job_id)


def ticket_difficulty(mask_value: int) -> float:
    """Inverse of the ticket-mask rule: un-reverse each byte, difficulty = mask + 1."""
    raw = bytes(int(f"{b:08b}"[::-1], 2) for b in mask_value.to_bytes(4, "big"))
    return float(int.from_bytes(raw, "big") + 1)


__all__ = ["SerialChainSim", "SimBM1366Chain", "SimBM1387Chain", "ticket_difficulty"]
