"""Real nonces for simulated devices: share times drawn from the modelled hashrate, nonces searched for real.

A modelled S9 does 1.4e13 H/s; one laptop core does ~1.6e6. The simulator therefore works at
``raw_hashrate / hash_scale`` hashes per simulated second. Because hash outcomes are i.i.d., the shares of a job
at difficulty D form a Poisson process of rate (hashes per second) x p, with p = P(hash <= target(D)). The
device draws its share *times* from that process (:class:`ShareArrivals`, exact for a rate that changes at
known instants: a new job, a new difficulty, a physics tick) and, at each share time, searches the job it holds
*at that instant* for the next nonce that meets the target (:meth:`NonceScanner.find`): so work switches to a
new job at the moment the job arrives, as on hardware, and no share of a replaced job is decided in advance.
A found nonce is attributed to a chip in proportion to the chips' raw rates and discarded with that chip's
hardware-error probability (a wrong result the firmware drops), so the accepted rate is the true hashrate's.
Every share returned meets the job's difficulty exactly (the C core hashes it; the pool checks it again).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from asicrc.drivers.stratum.client import Job
from asicrc.drivers.stratum.lbry import lbry_pow, lbry_share_difficulty, lbry_target
from asicrc.native import difficulty_batch, difficulty_to_target, search_nonces

from .physics import Physics

NONCE_SPACE = 1 << 32
TWO256 = float(1 << 256)
# a search gives up after this many hashes (one share at a difficulty whose expected search is longer than this
# is lost): bounds the CPU time of one share when the pool sets an absurd difficulty for the scaled hashrate
MAX_SEARCH_HASHES = 1 << 22
MAX_SEARCH_LBRY = 1 << 15  # LBRY PoW runs in hashlib, ~100x slower per hash


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


class ShareArrivals:
    """Share times of one device: a Poisson process whose rate is piecewise constant between ``update`` calls.

    Each share needs one Exp(1) amount of "work" (rate x time). ``update(t, rate)`` books the work done since the
    last call at the old rate and returns when the current share arrives at the new rate; ``arrived(t)`` starts
    the next share. Exact for any sequence of rate changes (no discretisation, no look-ahead), and
    deterministic given the generator.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._need = float(rng.standard_exponential())
        self._rate = 0.0
        self._since: float | None = None

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def due(self) -> float | None:
        """Clock time of the next share at the current rate (None: rate 0)."""
        return self._next()

    def _next(self) -> float | None:
        if self._rate <= 0 or self._since is None:
            return None
        return self._since + self._need / self._rate

    def update(self, t: float, rate: float) -> float | None:
        """The rate changes to `rate` at time t: the clock time of the next share (None: rate 0).

        Shares due before t must have been taken (``arrived``) first, or their work is lost."""
        if self._since is not None and t > self._since:
            self._need = max(0.0, self._need - self._rate * (t - self._since))
        if self._since is None or t > self._since:
            self._since = t
        self._rate = max(0.0, float(rate))
        return self._next()

    def arrived(self, t: float) -> float | None:
        """A share arrived at t (the time `update` returned): draw the work of the next one."""
        self._since = t
        self._need = float(self.rng.standard_exponential())
        return self._next()


class NonceScanner:
    """The device's work on its current job: share probability, modelled hashes done, nonce search."""

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
        self._target = 0
        self._p = 0.0
        self._headers: dict[int, tuple[bytes, int | None]] = {}
        self._work = 0.0  # modelled hashes (scaled) done on jobs so far: see `work`
        self.hashes_searched = 0  # sha256d actually computed to find the nonces
        self.found = 0
        self.hw_dropped = 0
        self.lost = 0  # searches that gave up (difficulty far beyond the scaled hashrate)

    def set_job(self, job: Job) -> None:
        """A new job replaces the old one (the device abandons the old work, as firmware does on notify)."""
        self.job = job
        self._en2 += 1
        self._cursor = int(self.rng.integers(0, NONCE_SPACE))
        self._headers.clear()
        self._target = lbry_target(job.difficulty) if self.lbry else difficulty_to_target(job.difficulty)
        self._p = min(1.0, (self._target + 1) / TWO256)

    def clear(self) -> None:
        self.job = None
        self._headers.clear()
        self._p = 0.0

    @property
    def share_probability(self) -> float:
        """P(one hash meets the current job's target); 0 without a job."""
        return self._p if self.job is not None else 0.0

    def hash_rate(self, physics: Physics) -> float:
        """Scaled raw hashes per simulated second of the live, hashing chips."""
        return float(physics.chip_raw_hashrate_hs().sum()) / self.hash_scale

    def share_rate(self, physics: Physics) -> float:
        """Candidate shares per simulated second (before hardware-error drops)."""
        return self.hash_rate(physics) * self.share_probability

    def work(self, dt_s: float, hash_rate: float) -> None:
        """Book `dt_s` seconds of hashing at `hash_rate` (scaled H/s) on the current job."""
        if self.job is not None and dt_s > 0:
            self._work += hash_rate * dt_s

    @property
    def hashes_done(self) -> int:
        """Modelled (scaled) hashes done on jobs so far: the exposure of the share rate."""
        return int(self._work)

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

    def find(self, t_s: float, physics: Physics) -> FoundShare | None:
        """The share due at t_s on the current job: the next nonce from the cursor that meets the target,
        attributed to a chip; None without a job, when the search gives up, or on a hardware error."""
        job = self.job
        raw = physics.chip_raw_hashrate_hs()
        total = float(raw.sum())
        if job is None or total <= 0 or self._p <= 0:
            return None
        variant = self._variant
        self._variant = (self._variant + 1) % self.version_variants
        header, bits = self._header(job, variant)
        limit = MAX_SEARCH_LBRY if self.lbry else MAX_SEARCH_HASHES
        # P(no solution in n hashes) = (1-p)^n: 40/p hashes miss with probability e^-40
        count = int(min(limit, math.ceil(40.0 / self._p)))
        start = self._cursor
        if self.lbry:
            nonce, done, diff = self._search_lbry(header, start, count)
        else:
            found, done = search_nonces(header, start, count, self._target, 1)
            nonce = int(found[0]) if found.size else None
            diff = float(difficulty_batch(header, found)[0]) if found.size else 0.0
        self._cursor = (start + done) % NONCE_SPACE
        self.hashes_searched += done
        if nonce is None:
            self.lost += 1
            return None
        # what rng.choice(len(raw), p=raw / total) draws (one uniform against the cdf: the same chip and the same
        # random stream), without its argument checks, which cost more than the rest of this bookkeeping
        draw = self.rng.random()
        if raw.size == 1:  # one chip (LV06): the cdf is [1.0] and the draw lands on chip 0 (it is still taken)
            chip = 0
        else:
            cdf = (raw / total).cumsum()
            cdf /= cdf[-1]
            chip = int(cdf.searchsorted(draw, side="right"))
        if self.rng.random() < float(physics.error_rate()[chip]):
            self.hw_dropped += 1
            return None
        self.found += 1
        return FoundShare(t_s, job, self._extranonce2(job), job.notify.ntime, nonce, bits, chip, diff)

    def _search_lbry(self, header: bytes, start: int, count: int) -> tuple[int | None, int, float]:
        """LBRY hashing in Python (hashlib): the LB-Box's scaled rate is kept small accordingly."""
        prefix = header[:108]
        for k in range(count):
            nonce = (start + k) % NONCE_SPACE
            h = lbry_pow(prefix + struct.pack("<I", nonce))
            if int.from_bytes(h, "little") <= self._target:
                return nonce, k + 1, lbry_share_difficulty(h)
        return None, count, 0.0
