"""BM1366 and BM1387 chains behind a pty pair: what a host UART driver (ESP-Miner, cgminer-gekko, asicrc) sees.

The host opens ``chain.port_path`` (115200 8N1 at power-on). The line is a modelled UART (``.uart``): bytes are
judged at the speed in force when they were sent, take their wire time, and are garbled where host and chip
speeds differ (see ``asicrc.drivers.sim.uart``). Every host frame is decoded with the project's C codecs
(``asicrc.native.codecs``); frames with a bad CRC are dropped silently, as a chip does. The chips answer:
- register reads (one chip or all: each chip replies in chain order; reg 0 is the chip id, 0x1366 / 0x1387),
  register writes (one chip or all), chain inactive and set-address (chips take addresses in chain order, and
  take new ones again after a chain inactive);
- PLL writes (BM1366 reg 0x08, BM1387 reg 0x0C) set that chip's frequency in the physics (so the nonce rate, the
  counters and the heat follow); ticket-mask writes (0x14 / 0x18) set the difficulty of the nonces returned;
  BM1366's version mask (0xA4) enables version rolling and reg 0x10 (hash counting number) how many nonces are
  scanned per rolled version; the baud registers (BM1366 0x28 fast-UART divider, BM1387 MISC_CONTROL 0x1C
  divider) switch the chip's UART at the end of the frame that sets them;
- counter registers advance with the modelled hashrate and error rate (``asicrc.drivers.sim.chip_counters``);
  results a chip computes wrong are dropped by a BM1366 (its 0x4C counts them) and returned anyway by a BM1387
  (which has no error counter: cgminer/bmminer count them when the nonce fails the host's re-hash);
- jobs (BM1366 82-byte headers, BM1387 1-4 midstates): the chips search real nonces (C sha256d / the C
  compression for midstates) and return nonce frames at the simulated times they are found, each with the core
  (and small core) that found it (``asicrc.drivers.sim.nonce_space``).

A reset (``chain.reset()``, or the host holding its line hung up with speed B0) returns every chip to its
power-on state: 115200-class baud, no address, reset registers, PLL at 50 MHz, no job, counters at zero.

Rates are scaled like the network devices: each chip hashes ``search_rate_hs x f_chip / f_nominal`` nonces per
simulated second, and the returned nonces meet ``ticket difficulty x difficulty_scale`` (default 2^-24), so the
ticket mask still thins the stream in the right proportion while a laptop core keeps up. The counters are not
scaled: they count the modelled hashrate, as the chip's own counters would.

Chips hash in parallel, each in its own part of the nonce space, as on a real chain: a chip only produces
nonces whose chip field (the bits the codecs attribute chips by: BM1366 ``(nonce_h >> 17) & 0xFF`` with
``nonce_h`` the nonce bytes read big-endian, BM1387 rx0 = header byte 76) lies in ``[address, address +
interval)``, its address as the host set it and the interval the spacing of the addresses (before enumeration:
``256 / chips``). So a host decoding with its ``address_interval`` gets each nonce's chip right, and the per-chip
nonce rates follow each chip's clock and hardware-error rate (process variation, temperature, thermal shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import logging
import struct
from typing import Any, ClassVar

import numpy as np

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source
from asicrc.drivers.seeds import stable_int
from asicrc.native import codecs, difficulty_to_target, meets_target_batch
from asicrc.native._core import ffi, lib
from asicrc.native.codecs import Kind as FrameKind

from . import nonce_space
from .chip_counters import HASHRATE_UNIT, HashCounters
from .faults import Fault, FaultKind, FaultState
from .params import BM1366_CHAIN, BM1387_CHAIN, SimParams, chain_spec
from .physics import Physics
from .uart import BITS_PER_BYTE, PtyUart, baud_compatible

log = logging.getLogger(__name__)

RESET_FREQ_HZ = 50e6  # PLL at power-on, before the host programs it
REF_CLOCK_HZ = 25e6
DEFAULT_DIFFICULTY_SCALE = 2.0**-24
MAX_HASHES_PER_TICK = 2_000_000  # bounds one tick's CPU time if the clock jumps
CHIP_FIELD_VALUES = 256  # the chip field of a nonce is 8 bits wide on both chips


@dataclasses.dataclass
class ChipJob:
    job_id: int
    header: bytes  # BM1366: the 80-byte header (nonce 0); BM1387: unused
    midstates: list[np.ndarray]  # BM1387: one state per midstate
    tail12: bytes  # BM1387: header bytes 64..76
    version: int
    cursors: np.ndarray  # per chip: position in its own part of the nonce space (taken modulo its size)


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """One solution a chip found: where in the batch, and everything its reply frame carries."""

    index: int
    nonce: int
    job_id: int  # as the reply carries it (BM1387: job id + midstate index)
    version_bits: int
    core: int
    small_core: int


class SerialChainSim:
    """Common machinery; use :class:`SimBM1366Chain` or :class:`SimBM1387Chain`."""

    base_spec: ClassVar[SimParams]
    chip_id: ClassVar[int]
    reset_baud: ClassVar[float]
    hash_domains: ClassVar[int] = 1

    def __init__(self, serial: str = "chain-0001", seed: int = 0, clock: Clock = REAL_TIME, chips: int = 1, *,
                 ambient_c: float = 25.0, search_rate_hs: float = 20_000.0,
                 difficulty_scale: float = DEFAULT_DIFFICULTY_SCALE, tick_s: float = 0.05,
                 tx_fifo_bytes: int = 4096, fanout: FanOut | None = None) -> None:
        if not 1 <= chips <= 64:
            raise ValueError(f"chips must be 1..64, got {chips}")
        if not search_rate_hs > 0 or not difficulty_scale > 0:
            raise ValueError("search_rate_hs and difficulty_scale must be > 0")
        self.serial = serial
        self.clock = clock
        self.chips = chips
        self.spec = chain_spec(self.base_spec, chips)
        self.physics = Physics(self.spec, serial, seed, ambient_c)
        self.rng = np.random.default_rng([seed & 0xFFFFFFFF, (stable_int(serial) + 2) & 0xFFFFFFFF])
        self._counter_rng = np.random.default_rng([seed & 0xFFFFFFFF, (stable_int(serial) + 3) & 0xFFFFFFFF])
        self.search_rate_hs = float(search_rate_hs)
        self.hash_scale = self.spec.freq_hz * self.spec.cores_per_chip / self.search_rate_hs
        self.difficulty_scale = float(difficulty_scale)
        self.tick_s = tick_s
        self.faults = FaultState()
        self.fanout = fanout if fanout is not None else FanOut()
        self.device_id = f"sim-{self.spec.name}-{serial}"
        self.uart = PtyUart(self._on_line, self._on_hangup, self.rng, tx_fifo_bytes=tx_fifo_bytes)
        self.jobs_received = 0
        self.nonces_sent = 0
        self.chip_nonces_sent = np.zeros(chips, dtype=np.int64)  # by the chip that found them
        self.chip_hw_errors_sent = np.zeros(chips, dtype=np.int64)  # of those, wrong results (BM1387)
        self.frames_received = 0
        self.bytes_garbled = 0  # host -> chip bytes that arrived at a speed the chip does not run at
        self.resets = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scan_until = 0.0
        self._last_t = 0.0
        self._shutdown_seen = np.zeros(chips, dtype=bool)
        self._generation = 0  # bumped by every reset: nonces found before it are never sent
        self._power_on()

    # ---- to be provided by the chip classes --------------------------------------------------------
    def _reset_registers(self, index: int) -> dict[int, int]:
        raise NotImplementedError

    def _make_decoder(self) -> Any:
        raise NotImplementedError

    def _register_reply(self, chip: int, reg: int, value: int) -> bytes:
        raise NotImplementedError

    def _command(self, code: int, targets: list[int], addr: int, reg: int, value: int, t_done: float) -> None:
        raise NotImplementedError

    def _on_register_write(self, chip: int, reg: int, value: int) -> None:
        raise NotImplementedError

    def _register_value(self, chip: int, reg: int) -> int:
        return self.registers[chip].get(reg, 0)

    def _job_from_record(self, rec: np.void) -> ChipJob | None:
        raise NotImplementedError

    def _search(self, chip: int, job: ChipJob, start: int, count: int, lo: int, width: int,
                target: int) -> list[Found]:
        """Hash ``count`` hashes of the chip's space from ``start``; the solutions meeting ``target``."""
        raise NotImplementedError

    def _nonce_reply(self, found: Found) -> bytes:
        raise NotImplementedError

    def _hardware_error(self, job: ChipJob, found: Found, target: int) -> Found | None:
        """A result the chip computed wrong: what reaches the host instead (None: the chip's own check drops it
        and only its error counter shows it)."""
        return None

    # ---- power-on state and reset ------------------------------------------------------------------
    def _power_on(self) -> None:
        self.addresses: list[int | None] = [None] * self.chips
        self._next_address = 0  # the next chip in chain order to take a set-address
        self.registers: list[dict[int, int]] = [self._reset_registers(i) for i in range(self.chips)]
        self.ticket_difficulty = 1.0
        self.version_mask = 0
        self.chip_baud = float(self.reset_baud)
        self.job: ChipJob | None = None
        self.physics.set_frequency(RESET_FREQ_HZ)
        self.counters = HashCounters(self.chips, self.hash_domains, self._counter_rng, self.clock.now())
        self._decoder = self._make_decoder()
        self._rx_fed = 0  # bytes fed to the current decoder (its record offsets count from there)
        self._rx_free = 0.0  # loop time at which the chip's receive line is free
        self._carry = np.zeros(self.chips)  # fractional hashes owed to each chip between ticks
        self._generation += 1

    def reset(self, reason: str = "reset") -> None:
        """Pull the chain's reset line: every chip returns to its power-on state (documented control; a host
        does the same by holding its tty at speed B0)."""
        self.uart.flush_tx()
        self._power_on()
        self.resets += 1
        self._publish(Kind.STATE, {"state": "reset", "reason": reason})

    def _on_hangup(self) -> None:
        self.reset("hangup")

    @property
    def host_baud(self) -> float:
        """The speed the host's tty runs at now (0 while it holds the line hung up)."""
        return self.uart.host_baud()

    @property
    def port_path(self) -> str:
        return self.uart.port_path

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the pty pair and start answering; ``port_path`` is the host side to open."""
        self.uart.open()
        now = self.clock.now()
        self._last_t = self._scan_until = now
        self.counters = HashCounters(self.chips, self.hash_domains, self._counter_rng, now)
        task = asyncio.create_task(self._loop(), name=f"{self.device_id}-physics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._on_loop_done)
        self._publish(Kind.STATE, {"state": "online", "port": self.port_path, "chips": self.chips})

    def _on_loop_done(self, task: asyncio.Task[Any]) -> None:
        """A crashed hashing loop would leave a chain that answers registers but never hashes again: say so."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        log.error("%s: chain simulator stopped hashing: %r", self.device_id, exc)
        self._publish(Kind.FAULT, {"reason": "simulator-error", "detail": f"hashing loop stopped: {exc!r}"})

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.uart.close()

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
    def _on_line(self, data: bytes, host_speeds: tuple[float, ...]) -> None:
        """Bytes the host wrote at one of ``host_speeds``: the chip's receiver decodes them while its own baud
        matches one of those speeds, and re-judges the rest whenever a frame switches its baud."""
        loop = asyncio.get_running_loop()
        pos = 0
        while pos < len(data):
            speed = next((s for s in host_speeds if baud_compatible(self.chip_baud, s)), 0.0)
            if not speed:
                self.bytes_garbled += len(data) - pos  # sampled at the wrong bit rate: nothing decodes
                self._restart_decoder()  # a frame cut by the noise is lost with it
                return
            chunk = data[pos:]
            start = max(loop.time(), self._rx_free)  # the bytes take their wire time to arrive
            self._rx_free = start + len(chunk) * BITS_PER_BYTE / speed
            base = self._rx_fed
            self._rx_fed += len(chunk)
            generation, baud = self._generation, self.chip_baud
            for rec in self._decoder.feed(chunk):
                end = int(rec["offset"]) + int(rec["frame_len"]) - base  # bytes of `chunk` up to this frame's end
                self.frames_received += 1
                self._handle(rec, start + end * BITS_PER_BYTE / speed)
                if self._generation != generation or self.chip_baud != baud:
                    # the chip switched (or was reset) at the end of this frame: what follows is judged anew
                    self._restart_decoder()
                    self._rx_free = start + end * BITS_PER_BYTE / speed
                    pos += max(end, 0)
                    break
            else:
                return

    def _restart_decoder(self) -> None:
        self._decoder = self._make_decoder()
        self._rx_fed = 0

    def _handle(self, rec: np.void, t_done: float) -> None:
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
        self._command(code, targets, addr, reg, value, t_done)

    def _assign_address(self, addr: int) -> None:
        """Set-address: taken by the next chip in chain order that has not taken one since power-on / the last
        chain inactive (that chip then relays the next command down the chain)."""
        if self._next_address < self.chips:
            self.addresses[self._next_address] = addr
            self._next_address += 1

    def _chain_inactive(self) -> None:
        self._next_address = 0

    def _read(self, targets: list[int], reg: int, t_done: float) -> None:
        for i in targets:
            if self.physics.alive[i]:
                self._write(self._register_reply(i, reg, self._register_value(i, reg)), t_done)

    def _write_regs(self, targets: list[int], reg: int, value: int) -> None:
        for i in targets:
            self.registers[i][reg] = value
            self._on_register_write(i, reg, value)

    def _advance_counters(self) -> None:
        self.counters.advance(self.clock.now(), self.physics.chip_raw_hashrate_hs(), self.physics.error_rate())

    # ---- bytes out ---------------------------------------------------------------------------------
    def _write(self, frame: bytes, at: float | None = None) -> None:
        drop = self.faults.take(FaultKind.SERIAL_DROP)
        if drop is not None:  # bytes of this frame lost on the wire
            k = int(drop.value)
            cut = int(self.rng.integers(0, max(1, len(frame) - k + 1)))
            frame = frame[:cut] + frame[cut + k:]
        garbage = self.faults.take(FaultKind.SERIAL_GARBAGE)
        if garbage is not None:  # line noise before this frame
            frame = self.rng.integers(0, 256, int(garbage.value), dtype=np.uint8).tobytes() + frame
        self.uart.send(frame, self.chip_baud, at)

    # ---- hashing -----------------------------------------------------------------------------------
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            self.uart.poll()
            now = self.clock.now()
            self.physics.advance(max(0.0, now - self._last_t))
            self._last_t = now
            self._advance_counters()
            self._report_shutdowns()
            horizon = now + self.tick_s * self.clock.speed
            start = max(self._scan_until, now - 5 * self.tick_s * self.clock.speed)
            self._scan_until = horizon
            if self.job is None or horizon <= start:
                continue
            for t, chip, frame, wrong in self._scan_interval(self.job, start, horizon - start):
                due = loop.time() + max(0.0, self.clock.wall_seconds(t - self.clock.now()))
                loop.call_at(due, self._send_nonce, frame, chip, wrong, self._generation, due)

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

    def _send_nonce(self, frame: bytes, chip: int, wrong: bool, generation: int, found_at: float) -> None:
        if generation != self._generation:
            return  # found before a reset: the chip that found it no longer has that work
        self.nonces_sent += 1
        self.chip_nonces_sent[chip] += 1
        self.chip_hw_errors_sent[chip] += wrong
        self._write(frame, found_at)  # the line is judged at the time it was found, however late we run

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

    def _scan_interval(self, job: ChipJob, t0: float, dt: float) -> list[tuple[float, int, bytes, bool]]:
        """Every chip searches its own part of the nonce space at its own rate over (t0, t0 + dt]: (time, chip,
        reply frame, whether the result is a hardware error) of every nonce it returns, in time order."""
        rate = self.physics.chip_raw_hashrate_hs() / self.hash_scale
        budget = rate * dt + self._carry
        counts = np.minimum(np.floor(budget), MAX_HASHES_PER_TICK // self.chips).astype(np.int64)
        self._carry = np.where(counts < MAX_HASHES_PER_TICK // self.chips, budget - counts, 0.0)
        target = difficulty_to_target(self.ticket_difficulty * self.difficulty_scale)
        keep_p = 1.0 - self.physics.error_rate()  # the rest come out wrong: see _hardware_error
        lo, width = self.chip_field_ranges()
        out = []
        for chip in np.flatnonzero(counts > 0).tolist():
            count = int(counts[chip])
            start = int(job.cursors[chip])
            job.cursors[chip] = start + count
            for found in self._search(chip, job, start, count, lo[chip], width, target):
                is_error = self.rng.random() >= keep_p[chip]
                if is_error:
                    wrong = self._hardware_error(job, found, target)
                    if wrong is None:
                        continue
                    found = wrong
                out.append((t0 + dt * (found.index + 1) / count, chip, self._nonce_reply(found), is_error))
        out.sort(key=lambda x: x[0])  # the chips' frames interleave on the shared line
        return out

    def _start_cursors(self) -> np.ndarray:
        """A new job starts every chip at the start of its part of the space (nonce 0, version unrolled)."""
        return np.zeros(self.chips, dtype=np.int64)

    def _publish(self, kind: Kind, data: dict[str, Any]) -> None:
        self.fanout.publish(Event(self.clock.now_ns(), self.device_id, Source.SIM, kind, data))


class SimBM1366Chain(SerialChainSim):
    """BM1366 chips (ESP-Miner wire format: ``55 AA`` commands, 82-byte header jobs, 11-byte replies)."""

    base_spec = BM1366_CHAIN
    chip_id = 0x1366
    reset_baud = REF_CLOCK_HZ / ((26 + 1) * 8)  # ~115,741 baud: reg 0x28's divider resets to 26
    hash_domains = 4  # ESP-Miner device_config.h: BM1366 .hash_domains = 4 (regs 0x88..0x8B)
    COUNTER_REGS: ClassVar[dict[int, tuple[str, int]]] = {
        0x4C: ("errors", 0), 0x88: ("domain", 0), 0x89: ("domain", 1), 0x8A: ("domain", 2), 0x8B: ("domain", 3),
        0x8C: ("total", 0)}

    def _reset_registers(self, index: int) -> dict[int, int]:
        # power-on values (bm13xx-rs bm1366 defaults): chip id, PLL0 at 50 MHz, MISC_CONTROL, fast UART divider
        # 26 from the 25 MHz clock, version rolling off
        return {0x00: 0x13660000, 0x08: 0xC0540165, 0x10: 0, 0x14: 0, 0x18: 0x0000C100, 0x28: 0x01301A00,
                0xA4: 0x0000FFFF, 0xA8: 0x00070000}

    def _make_decoder(self) -> Any:
        return codecs.BM1366HostDecoder()

    def _register_reply(self, chip: int, reg: int, value: int) -> bytes:
        return codecs.bm1366_register_reply(value, self.addresses[chip] or 0, reg)

    def _register_value(self, chip: int, reg: int) -> int:
        counter = self.COUNTER_REGS.get(reg)
        if counter is None:
            return self.registers[chip].get(reg, 0)
        self._advance_counters()
        what, domain = counter
        c = self.counters
        return int(c.errors[chip] if what == "errors" else c.total[chip] if what == "total" else c.domain[chip, domain])

    def _command(self, code: int, targets: list[int], addr: int, reg: int, value: int, t_done: float) -> None:
        if code == 0:  # set address
            self._assign_address(addr)
        elif code == 1:
            self._write_regs(targets, reg, value)
        elif code == 2:
            self._read(targets, reg, t_done)
        elif code == 3:
            self._chain_inactive()

    def _on_register_write(self, chip: int, reg: int, value: int) -> None:
        if reg == 0x08:  # PLL: 00 08 vdo fb refdiv post  -> value = vdo<<24 | fb<<16 | refdiv<<8 | post
            fb, refdiv, post = (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
            p1, p2 = (post >> 4) + 1, (post & 0x0F) + 1
            if fb and refdiv:
                self.physics.set_frequency(REF_CLOCK_HZ * fb / (refdiv * p1 * p2), [chip])
        elif reg == 0x14:
            self.ticket_difficulty = ticket_difficulty(value)
        elif reg == 0xA4:  # 0x9000 | (mask >> 13): bit 31 enables rolling of the masked version bits
            self.version_mask = ((value & 0xFFFF) << 13) & 0x1FFFE000 if value >> 31 & 1 else 0
        elif reg == 0x28:
            # fast-UART configuration: baud = 25 MHz / ((bt8d + 1) x 8) with bt8d in bits 15:8 while bit 26
            # selects the 25 MHz clock (ESP-Miner's 0x11300200: bt8d 2 -> 1,041,667 baud). The PLL1 source
            # (bit 26 set) is not modelled: the chip keeps its speed.
            if not value >> 26 & 1:
                self.chip_baud = REF_CLOCK_HZ / ((((value >> 8) & 0xFF) + 1) * 8)
        elif reg in self.COUNTER_REGS:
            self._advance_counters()
            what, domain = self.COUNTER_REGS[reg]
            self.counters.set(chip, what, value, domain)
        # reg 0x18 (MISC_CONTROL) holds no baud divider on a BM1366: see docs/sim.md "What real firmware sees"

    def _job_from_record(self, rec: np.void) -> ChipJob | None:
        frame = codecs.host_frame_bytes(rec)
        p = frame[4:86]

        def words(b: bytes) -> bytes:
            return b"".join(b[i:i + 4] for i in range(len(b) - 4, -1, -4))

        header = p[78:82] + words(p[46:78]) + words(p[14:46]) + p[10:14] + p[6:10] + b"\0\0\0\0"
        return ChipJob(int(rec["job_id"]), header, [], b"", int.from_bytes(p[78:82], "little"),
                       self._start_cursors())

    def per_version(self, chip: int, width: int) -> int:
        """Nonces of a core's slice scanned per rolled version: the slice (``width`` chip-field values x 2^17)
        times reg 0x10 over its full-slice value at this chip's clock (ESP-Miner ``BM1366_set_nonce_space``:
        hcn = 2^32 / 128 cores / chips x 25 / f x 0.5 for 100 %); 0 (power-on) scans the whole slice."""
        hcn = self.registers[chip].get(0x10, 0)
        full = nonce_space.bm1366_slot_count(width, 1)
        if not hcn:
            return full
        chips_up = 1 << (self.chips - 1).bit_length()
        hcn_full = 2.0**32 / 128 / chips_up * REF_CLOCK_HZ / float(self.physics.freq_hz[chip]) * 0.5
        return int(min(full, max(1, round(full * hcn / hcn_full))))

    def _search(self, chip: int, job: ChipJob, start: int, count: int, lo: int, width: int,
                target: int) -> list[Found]:
        work = nonce_space.bm1366_slice(start, count, lo, width, self.version_mask, self.per_version(chip, width))
        versions = (np.uint32(job.version) | work.version_bits).astype(np.uint32)
        hits = np.flatnonzero(meets_target_batch(job.header, work.nonces, target, versions=versions).ok)
        return [Found(int(i), int(work.nonces[i]), job.job_id, int(work.version_bits[i]), int(work.core[i]),
                      int(work.small_core[i])) for i in hits]

    def _nonce_reply(self, found: Found) -> bytes:
        return codecs.bm1366_nonce_reply(found.nonce, found.job_id & 0xF8, found.small_core, found.version_bits)


class SimBM1387Chain(SerialChainSim):
    """BM1387 chips (VIL commands without preamble, 1-4 midstate work, 7-byte replies), driven as cgminer-gekko
    drives a GekkoScience stick: chain inactive, set-address at 0x100 / chips steps, PLL per chip, ticket mask,
    MISC_CONTROL baud (1.5625 Mbaud) then the host follows."""

    base_spec = BM1387_CHAIN
    chip_id = 0x1387
    reset_baud = REF_CLOCK_HZ / ((26 + 1) * 8)
    PLL_LOCKED = 0x80000000  # cgminer-gekko reads its PLL register back with rx0 == 0x80

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("search_rate_hs", 5_000.0)  # midstate hashing goes through Python per nonce
        super().__init__(*args, **kwargs)

    def _reset_registers(self, index: int) -> dict[int, int]:
        return {0x00: 0x13879000}

    def _make_decoder(self) -> Any:
        return codecs.BM1387HostDecoder()

    def _register_reply(self, chip: int, reg: int, value: int) -> bytes:
        if reg == 0:
            value = (value & 0xFFFFFF00) | (self.addresses[chip] or 0)
        return codecs.bm1387_register_reply(value)

    def _register_value(self, chip: int, reg: int) -> int:
        if reg == 0x08:  # the chip's own hashrate estimate, units of 2^24 H/s
            self._advance_counters()
            return min(0x7FFFFFFF, round(self.counters.windowed_hashrate_hs(chip) / HASHRATE_UNIT))
        value = self.registers[chip].get(reg, 0)
        return value | self.PLL_LOCKED if reg == 0x0C and value else value

    def _command(self, code: int, targets: list[int], addr: int, reg: int, value: int, t_done: float) -> None:
        if code == 1:
            self._assign_address(addr)
        elif code == 5:
            self._chain_inactive()
        elif code == 8:
            self._write_regs(targets, reg, value)
        elif code == 4:
            self._read(targets, reg, t_done)
        # codes 2, 3, 6, 7 (PLL divider / pattern / baud-ops of the older FIL mode): not used in VIL mode

    def _on_register_write(self, chip: int, reg: int, value: int) -> None:
        if reg == 0x0C:  # fbdiv<<16 | refdiv<<8 | postdiv1<<4 | postdiv2
            fb, refdiv = (value >> 16) & 0xFFF, (value >> 8) & 0xFF
            p1, p2 = (value >> 4) & 0x0F, value & 0x0F
            if fb and refdiv and p1 and p2:
                self.physics.set_frequency(REF_CLOCK_HZ * fb / (refdiv * p1 * p2), [chip])
        elif reg == 0x18:
            self.ticket_difficulty = ticket_difficulty(value)
        elif reg == 0x1C:
            # MISC_CONTROL: baud divider in bits 12:8, applied whatever bit 30 (not_set_baud) says: braiins found
            # experimentally that the divider must always hold the right speed. Every known host writes its
            # not_set_baud words (gekko's gate block, bmminer's 0x40209A80 and I2C words) with the divider
            # already in force, so they leave the speed as it is.
            self.chip_baud = REF_CLOCK_HZ / 8 / (((value >> 8) & 0x1F) + 1)

    def _job_from_record(self, rec: np.void) -> ChipJob | None:
        frame = codecs.host_frame_bytes(rec)
        tail = frame[16:20] + frame[12:16] + frame[8:12]  # header bytes 64..76 (words in reverse on the wire)
        states = [np.array(struct.unpack(">8I", m[::-1]), dtype=np.uint32)
                  for m in codecs.bm1387_work_midstates(rec)]
        return ChipJob(int(rec["job_id"]), b"", states, tail, 0, self._start_cursors())

    def _search(self, chip: int, job: ChipJob, start: int, count: int, lo: int, width: int,
                target: int) -> list[Found]:
        work = nonce_space.bm1387_slice(start, count, lo, width, len(job.midstates))
        hasher = _MidstateHasher(job)
        return [Found(k, nonce, (job.job_id + mid) & 0xFF, 0, int(work.core[k]), 0)
                for k, (nonce, mid) in enumerate(zip(work.nonces.tolist(), work.midstate.tolist(), strict=True))
                if hasher.hash_value(mid, nonce) <= target]

    def _nonce_reply(self, found: Found) -> bytes:
        return codecs.bm1387_nonce_reply(found.nonce, found.job_id)

    def _hardware_error(self, job: ChipJob, found: Found, target: int) -> Found | None:
        # A BM1387 keeps no error counter: a core that computed wrong returns its nonce anyway, and cgminer /
        # bmminer count the hardware error when the nonce fails their re-hash. The wrong bits lie in the core's
        # free nonce bits (header bytes 77..78), so the reply still names the chip and core that produced it;
        # one that happens to meet the target is drawn again (at the scaled difficulties one in 2^8..2^12
        # would, where a real chip's wrong nonce passes a difficulty-1 check once in 2^32).
        hasher = _MidstateHasher(job)
        mid = (found.job_id - job.job_id) & 0xFF
        for _ in range(64):
            nonce = found.nonce ^ (int(self.rng.integers(1, 1 << 16)) << 8)
            if mid < len(job.midstates) and hasher.hash_value(mid, nonce) > target:
                return dataclasses.replace(found, nonce=nonce)
        return None


class _MidstateHasher:
    """sha256d of a BM1387 work item's header for one midstate and nonce (the chip's second block + final hash)."""

    def __init__(self, job: ChipJob) -> None:
        self._state = ffi.new("uint32_t[8]")
        self._block = bytearray(job.tail12 + b"\0\0\0\0" + b"\x80" + bytes(39) + struct.pack(">Q", 640))
        self._mids = [m.tobytes() for m in job.midstates]

    def hash_value(self, mid: int, nonce: int) -> int:
        """The hash as the little-endian integer targets are compared with."""
        self._block[12:16] = nonce.to_bytes(4, "little")
        ffi.memmove(self._state, self._mids[mid], 32)
        lib.asicrc_sha256_compress(self._state, bytes(self._block))
        return int.from_bytes(hashlib.sha256(struct.pack(">8I", *self._state)).digest(), "little")


def ticket_difficulty(mask_value: int) -> float:
    """The difficulty a ticket-mask value enforces: each set bit is one more hash bit that must be zero, so
    2^(bits set). For the masks hosts write this is ``d`` for ``d - 1`` in either byte order seen in the wild:
    ESP-Miner, gekko and later braiins bit-reverse each byte (diff 64 -> ``00 00 00 FC``), bmminer and early
    braiins write ``d - 1`` as it is (``00 00 00 3F``); both select six bits."""
    return float(1 << bin(mask_value & 0xFFFFFFFF).count("1"))


__all__ = ["DEFAULT_DIFFICULTY_SCALE", "SerialChainSim", "SimBM1366Chain", "SimBM1387Chain", "ticket_difficulty"]
