"""Real nonces for simulated devices: scan the received job with the C sha256d at a scaled hash rate.

A modeled S9 does 1.4e13 H/s; one laptop core does ~1.6e6. The scanner therefore hashes
``raw_hashrate / hash_scale`` nonces per simulated second. Because hash outcomes are i.i.d., the solutions it finds
form a Poisson process whose rate is the modeled hashrate / hash_scale thinned by the pool difficulty (the target
scanned against), and each found nonce carries the simulated time at which its position in the scan was reached.
A found nonce is attributed to a chip in proportion to the chips' raw rates and discarded with that chip's
hardware-error probability (a wrong result the firmware drops), so the accepted rate is the true hashrate's.
Every share returned meets the job's difficulty exactly (checked again with the batch API).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from asicrc.drivers.stratum.client import Job
from asicrc.drivers.stratum.lbry import lbry_pow, lbry_share_difficulty, lbry_target
from asicrc.native import difficulty_batch, difficulty_to_target, search_nonces

from .physics import Physics

NONCE_SPACE = 1 << 32
MAX_FOUND_PER_SCAN = 4096


@dataclass(frozen=True, slots=True)
class FoundShare:
    t_s: float  # clock seconds at which the device found it
    job: Job
    extranonce2: bytes
    ntime: int
    nonce: int
    version_bits: int | None  # rolled bits to submit (None: job without version rolling)
    chip: int
    difficulty: float  # achieved share difficulty


class NonceScanner:
    """Scans the current job at the physics' raw hashrate / hash_scale; one instance per device."""

    def __init__(self, hash_scale: float, rng: np.random.Generator, version_variants: int = 4,
                 lbry: bool = False) -> None:
        if not hash_scale > 0:
            raise ValueError(f"hash_scale must be > 0, got {hash_scale!r}")
        self.hash_scale = float(hash_scale)
        self.rng = rng
        self.version_variants = max(1, version_variants)
        self.lbry = lbry
        self.job: Job | None = None
        self._en2 = 0
        self._cursor = 0
        self._variant = 0
        self._carry = 0.0
        self._headers: dict[int, tuple[bytes, int | None]] = {}
        self.hashes_done = 0
        self.found = 0
        self.hw_dropped = 0
        self.max_hashes_per_scan = 2_000_000  # bounds one tick's CPU time if the clock jumps

    def set_job(self, job: Job) -> None:
        """A new job replaces the old one (the device abandons the old work, as firmware does on notify)."""
        self.job = job
        self._en2 += 1
        self._cursor = int(self.rng.integers(0, NONCE_SPACE))
        self._headers.clear()

    def clear(self) -> None:
        self.job = None
        self._headers.clear()

    def _extranonce2(self, job: Job) -> bytes:
        size = job.extranonce2_size
        return (self._en2 % (1 << (8 * size))).to_bytes(size, "little") if size else b""

    def _header(self, job: Job, variant: int) -> tuple[bytes, int | None]:
        """Header for a version variant (like AsicBoost midstates: different rolled version bits per variant)."""
        cached = self._headers.get(variant)
        if cached is not None:
            return cached
        bits: int | None = None
        if job.version_mask:
            # spread the variant index over the low bits of the mask
            mask_bits = [b for b in range(32) if job.version_mask >> b & 1]
            bits = 0
            for j, b in enumerate(mask_bits[:8]):
                if (variant + 1) >> j & 1:
                    bits |= 1 << b
        header = job.header(self._extranonce2(job), version_bits=bits)
        self._headers[variant] = (header, bits)
        return header, bits

    def scan(self, t0_s: float, dt_s: float, physics: Physics) -> list[FoundShare]:
        """Hash the nonces due in the simulated interval (t0, t0 + dt]; return the shares found in it."""
        job = self.job
        if job is None or dt_s <= 0:
            return []
        raw = physics.chip_raw_hashrate_hs()
        total = float(raw.sum())
        budget = total / self.hash_scale * dt_s + self._carry
        count = int(min(budget, self.max_hashes_per_scan))
        self._carry = budget - count if budget < self.max_hashes_per_scan else 0.0
        if count <= 0:
            return []
        variant = self._variant
        self._variant = (self._variant + 1) % self.version_variants
        header, bits = self._header(job, variant)
        start = self._cursor
        if self.lbry:
            nonces, diffs = self._scan_lbry(header, start, count, job.difficulty)
        else:
            target = difficulty_to_target(job.difficulty)
            nonces, _ = search_nonces(header, start, count, target, MAX_FOUND_PER_SCAN)
            diffs = np.asarray(difficulty_batch(header, nonces), dtype=np.float64) if nonces.size else np.zeros(0)
        self._cursor = (start + count) % NONCE_SPACE
        self.hashes_done += count
        if not len(nonces):
            return []
        weights = raw / total
        err = physics.error_rate()
        chips = self.rng.choice(len(raw), size=len(nonces), p=weights)
        keep = self.rng.random(len(nonces)) >= err[chips]
        self.found += int(keep.sum())
        self.hw_dropped += int((~keep).sum())
        out: list[FoundShare] = []
        en2 = self._extranonce2(job)
        for nonce, diff, chip, ok in zip(nonces.tolist(), diffs.tolist(), chips.tolist(), keep.tolist(), strict=True):
            if not ok:
                continue
            offset = (int(nonce) - start) % NONCE_SPACE
            out.append(FoundShare(t0_s + dt_s * (offset + 1) / count, job, en2, job.notify.ntime, int(nonce), bits,
                                  int(chip), float(diff)))
        return out

    def _scan_lbry(self, header: bytes, start: int, count: int, difficulty: float) -> tuple[np.ndarray, np.ndarray]:
        """LBRY hashing in Python (hashlib): the LB-Box's scaled rate is kept small accordingly."""
        target = lbry_target(difficulty)
        prefix = header[:108]
        found: list[int] = []
        diffs: list[float] = []
        for k in range(count):
            nonce = (start + k) % NONCE_SPACE
            h = lbry_pow(prefix + struct.pack("<I", nonce))
            if int.from_bytes(h, "little") <= target:
                found.append(nonce)
                diffs.append(lbry_share_difficulty(h))
        return np.asarray(found, dtype=np.uint32), np.asarray(diffs, dtype=np.float64)
