"""UartChain: bring a BM1366/BM1387 chain up over a serial link, feed it jobs, and turn its replies into records.

Nonces are verified on arrival: the job's header (kept for the last 128 job ids) is re-hashed with the returned
nonce (and rolled version) through the C core; a nonce whose difficulty is below the ticket mask's is a hardware
error, as cgminer counts them. Everything the chain says is decoded by the C streaming decoder (one numpy call per
chunk); register replies go to a queue for enumeration/reads.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...native import codecs, difficulty_batch
from ..clock import Clock
from .chips import ChipOps
from .link import SerialError, SerialLink

ENUM_FIRST_REPLY_S = 1.0  # ESP-Miner waits up to 1 s for each chip-id reply
ENUM_QUIET_S = 0.3  # after the last reply, this much silence ends enumeration
CMD_GAP_S = 0.002  # breathing room between init commands (ESP-Miner delays a few ms)
RESET_HOLD_S = 0.1  # the chain is held in reset this long before bring-up, and given this long after
# register replies nobody is reading (a chip that keeps answering, line noise decoded as replies) are kept up to
# this many, oldest dropped first: a full S9 chain enumerates 63 chips, a read-all of one register as many
MAX_PENDING_REGISTER_REPLIES = 1024


@dataclass(slots=True)
class ChainStats:
    nonces: int = 0  # verified nonces (meeting the ticket difficulty)
    hw_errors: int = 0  # nonces that did not verify (or named an unknown job)
    work_diff: float = 0.0  # sum of ticket difficulties of verified nonces (hashrate = work * 2^32 / dt)
    jobs_sent: int = 0
    register_replies_dropped: int = 0  # unread replies beyond MAX_PENDING_REGISTER_REPLIES (oldest dropped)
    per_chip: dict[int, int] = field(default_factory=dict)


# (records, achieved difficulty, valid, chain position of the chip, t_ns)
NonceSink = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], None]


class UartChain:
    def __init__(self, ops: ChipOps, clock: Clock, on_nonces: NonceSink | None = None,
                 difficulty_scale: float = 1.0) -> None:
        self.ops = ops
        self.difficulty_scale = difficulty_scale  # 1 on real chips; simulated chains return easier nonces
        self.clock = clock
        self.on_nonces = on_nonces
        self.link = SerialLink(self._on_bytes, clock)
        self.chips = 0
        self.frequency_mhz = 0.0
        self.difficulty = 0.0
        self.baud = ops.boot_baud
        self.stats = ChainStats()
        self._decoder: codecs._StreamDecoder = ops.decoder(1)
        self._registers: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue(MAX_PENDING_REGISTER_REPLIES)
        self._jobs: dict[int, tuple[bytes, int]] = {}  # job id -> (header, base version)
        self._last_job_id: int | None = None

    # ---- bytes in ----------------------------------------------------------------------------------------------
    def _on_bytes(self, data: bytes, t_ns: int) -> None:
        recs = self._decoder.feed(data)
        if recs.size == 0:
            return
        regs = recs[recs["kind"] == codecs.Kind.REGISTER]
        for r in regs:
            if self._registers.full():
                self._registers.get_nowait()
                self.stats.register_replies_dropped += 1
            self._registers.put_nowait((int(r["value"]), int(r["chip_addr"]), int(r["reg"])))
        nonces = recs[recs["kind"] == codecs.Kind.NONCE]
        if nonces.size:
            self._verify(nonces, t_ns)

    def _verify(self, nonces: np.ndarray, t_ns: int) -> None:
        achieved = np.zeros(nonces.size)
        valid = np.zeros(nonces.size, dtype=bool)
        for job_id in np.unique(nonces["job_id"]):
            sel = np.flatnonzero(nonces["job_id"] == job_id)
            job = self._jobs.get(int(job_id))
            if job is None:
                continue  # unknown job (stale from before a re-init, or corrupted): a hardware error
            header, base_version = job
            versions = (np.uint32(base_version) | nonces["version_bits"][sel]).astype(np.uint32)
            diffs = difficulty_batch(header, nonces["nonce"][sel].astype(np.uint32), versions=versions)
            achieved[sel] = diffs
            # the chip reports nonces meeting its ticket mask (power-of-two difficulty <= the requested one)
            valid[sel] = diffs >= self.nonce_difficulty() * (1 - 1e-9)
        self.stats.nonces += int(valid.sum())
        self.stats.hw_errors += int((~valid).sum())
        self.stats.work_diff += float(valid.sum()) * self.nonce_difficulty()
        chips = self.ops.chip_index(nonces["chip"], max(self.chips, 1))
        for chip in chips[valid]:
            self.stats.per_chip[int(chip)] = self.stats.per_chip.get(int(chip), 0) + 1
        if self.on_nonces is not None:
            self.on_nonces(nonces, achieved, valid, chips, t_ns)

    def nonce_difficulty(self) -> float:
        """Difficulty every returned nonce must meet: the ticket mask enforces the largest power of two <= the
        requested difficulty (times difficulty_scale for simulated chains)."""
        d = max(1, math.ceil(self.difficulty or 1.0))
        return float(1 << (d.bit_length() - 1)) * self.difficulty_scale

    # ---- bytes out ---------------------------------------------------------------------------------------------
    async def _send(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.link.write(frame)
            await asyncio.sleep(CMD_GAP_S)
        await self.link.drain()  # returns once the bytes are on the wire (tty), not just queued

    async def read_register_replies(self, expect: int | None, first_s: float, quiet_s: float) -> list[tuple[int, int, int]]:
        """Collect register replies until `expect` arrived, or nothing came for quiet_s (first_s for the first)."""
        got: list[tuple[int, int, int]] = []
        while expect is None or len(got) < expect:
            try:
                got.append(await asyncio.wait_for(self._registers.get(), first_s if not got else quiet_s))
            except TimeoutError:
                break
        return got

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    async def open(self, url: str) -> None:
        self.baud = self.ops.boot_baud
        await self.link.open(url, self.baud)

    def close(self) -> None:
        self.link.close()

    async def init(self, freq_mhz: float, difficulty: float, expect_chips: int | None = None) -> int:
        """ESP-Miner/gekko bring-up: reset pulse, enumerate, address, registers, PLL, ticket mask, then the fast
        baud. Returns the number of chips that answered; SerialError if none did."""
        # start from power-on state whatever the chain was left in (e.g. still at the fast baud after a restart):
        # the hang-up pulse is the simulated chains' reset line
        await self.link.pulse_hangup(RESET_HOLD_S)
        await asyncio.sleep(RESET_HOLD_S)
        while not self._registers.empty():
            self._registers.get_nowait()
        self._decoder = self.ops.decoder(1)
        await self._send(self.ops.pre_enumerate())
        await self._send([self.ops.enumerate_frame()])
        replies = await self.read_register_replies(expect_chips, ENUM_FIRST_REPLY_S, ENUM_QUIET_S)
        chips = sum(1 for value, _, _ in replies if value >> 16 == self.ops.chip_id)
        if chips == 0:
            raise SerialError(f"{self.link.url}: no {self.ops.name.upper()} answered the chip-id read "
                              f"({len(replies)} other register replies)")
        if expect_chips is not None and chips != expect_chips:
            raise SerialError(f"{self.link.url}: {chips} {self.ops.name.upper()} chips answered, expected {expect_chips}")
        self.chips = chips
        self._decoder = self.ops.decoder(chips)  # nonce -> chip attribution depends on the address interval
        await self._send(self.ops.init_frames(chips, freq_mhz, difficulty))
        await self._send(self.pll_ramp(self.ops.ramp_from_mhz, freq_mhz))
        self.frequency_mhz = freq_mhz
        self.difficulty = difficulty
        self._jobs.clear()
        self._last_job_id = None
        baud_frames = self.ops.baud_frames()
        if baud_frames and self.ops.fast_baud:
            # as ESP-Miner does: the chip switches at the end of the baud frame, so once the frame has left the
            # UART (tcdrain) the host follows at once; nothing is sent in between
            await self._send(baud_frames)
            await self.link.set_baud(self.ops.fast_baud)
            self.baud = self.ops.fast_baud
            self._decoder = self.ops.decoder(chips)  # bytes straddling the switch are garbage: start clean
        return chips

    def pll_ramp(self, start_mhz: float | None, target_mhz: float) -> list[bytes]:
        """PLL writes from start to target in steps of at most ops.ramp_step_mhz (one write if start is None)."""
        if start_mhz is None or start_mhz == target_mhz:
            return self.ops.pll_frames(self.chips, target_mhz)
        n = max(1, math.ceil(abs(target_mhz - start_mhz) / self.ops.ramp_step_mhz))
        frames: list[bytes] = []
        for f in np.linspace(start_mhz, target_mhz, n + 1)[1:]:
            frames += self.ops.pll_frames(self.chips, float(f))
        return frames

    async def set_frequency(self, freq_mhz: float) -> None:
        """Move the PLL from the present frequency to freq_mhz in small steps (the chip loses lock on big jumps)."""
        await self._send(self.pll_ramp(self.frequency_mhz or None, freq_mhz))
        self.frequency_mhz = freq_mhz

    async def set_difficulty(self, difficulty: float) -> None:
        await self._send([self.ops.ticket_frame(difficulty)])
        self.difficulty = difficulty

    async def send_job(self, header: bytes) -> int:
        if len(header) != 80:
            raise ValueError(f"header must be 80 bytes, got {len(header)}")
        job_id = self.ops.next_job_id(self._last_job_id)
        self._jobs[job_id] = (bytes(header), self.ops.job_versions(header))
        await self._send([self.ops.job_frame(header, job_id)])
        self._last_job_id = job_id
        self.stats.jobs_sent += 1
        return job_id

    @property
    def decoder_stats(self) -> Any:
        return self._decoder.stats
