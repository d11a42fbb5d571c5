"""The hash and error counters a chip keeps, advancing with its modelled (not scaled) hashrate.

Semantics as the firmware reads them:
- BM1366 (ESP-Miner ``bm1366.c`` REGISTER_MAP, ``hashrate_monitor_task.c``): 0x8C total and 0x88..0x8B the four
  hash domains' counters go up by one per difficulty-1 result (2^32 hashes, ``HASH_CNT_LSB``), so
  ``GH/s = delta x 2^32 / dt / 1e9`` over the firmware's own read times; 0x4C counts the results that failed the
  chip's check in the same unit, so ESP-Miner's ``errorPercentage = rate(0x4C) / rate(0x8C) x 100`` is the chip's
  hardware-error fraction. All are uint32 and wrap (ESP-Miner subtracts modulo 2^32). A write sets the value.
- BM1387 (bmminer ``check_asic_reg(HASHRATE)``, the S9's per-chip "RT hashrate"): 0x08 is the chip's own
  hashrate estimate in units of 2^24 H/s, difficulty-1 results counted over the last ``HASHRATE_WINDOW_S``
  (so it carries the Poisson noise of ~300 counts at 70 GH/s, as real per-chip readings scatter).

Counts are Poisson in the chip's raw hashrate x elapsed time (errors binomial in them, domains multinomial), drawn
from their own generator so reading counters never perturbs the nonce stream.
"""

from __future__ import annotations

import collections

import numpy as np
import numpy.typing as npt

DIFF1_HASHES = 2.0**32
HASHRATE_UNIT = 2.0**24  # BM1387 reg 0x08 (and ESP-Miner's HASHRATE_UNIT)
HASHRATE_WINDOW_S = 16.0
U32_MOD = 1 << 32


class HashCounters:
    def __init__(self, chips: int, domains: int, rng: np.random.Generator, t0: float) -> None:
        self.chips = chips
        self.domains = domains
        self._rng = rng
        self.total = np.zeros(chips, dtype=np.int64)  # kept modulo 2^32
        self.errors = np.zeros(chips, dtype=np.int64)
        self.domain = np.zeros((chips, domains), dtype=np.int64)
        self._good = np.zeros(chips, dtype=np.int64)  # all-time good results (not wrapped): the window's source
        self._t = t0
        self._history: collections.deque[tuple[float, npt.NDArray[np.int64]]] = collections.deque()
        self._history.append((t0, self._good.copy()))

    def advance(self, now: float, raw_hs: npt.NDArray[np.float64], error_rate: npt.NDArray[np.float64]) -> None:
        """Count the results of ``raw_hs`` (per chip, H/s) from the last advance until ``now`` (clock s)."""
        dt = now - self._t
        if dt <= 0:
            return
        self._t = now
        n = self._rng.poisson(np.maximum(raw_hs, 0.0) * dt / DIFF1_HASHES)
        bad = self._rng.binomial(n, np.clip(error_rate, 0.0, 1.0))
        split = self._rng.multinomial(n, np.full(self.domains, 1.0 / self.domains))
        self.total = (self.total + n) % U32_MOD
        self.errors = (self.errors + bad) % U32_MOD
        self.domain = (self.domain + split) % U32_MOD
        self._good += n - bad
        self._history.append((now, self._good.copy()))
        while len(self._history) > 2 and self._history[1][0] <= now - HASHRATE_WINDOW_S:
            self._history.popleft()

    def windowed_hashrate_hs(self, chip: int) -> float:
        """Good results over the last ``HASHRATE_WINDOW_S`` (or since reset, if shorter), as H/s."""
        t_old, old = self._history[0]
        span = self._t - t_old
        if span <= 0:
            return 0.0
        return float(self._good[chip] - old[chip]) * DIFF1_HASHES / span

    def set(self, chip: int, what: str, value: int, domain: int = 0) -> None:
        """A host write to a counter register."""
        if what == "total":
            self.total[chip] = value % U32_MOD
        elif what == "errors":
            self.errors[chip] = value % U32_MOD
        else:
            self.domain[chip, domain] = value % U32_MOD


__all__ = ["DIFF1_HASHES", "HASHRATE_UNIT", "HASHRATE_WINDOW_S", "HashCounters"]
