"""What the firmware makes visible of the physics: counters, measured hashrates, sensor readings, API snapshots.

Real firmware does not see the true hashrate: it counts the nonces its chips return and divides by time, so the
reported rate has Poisson noise (here: nonces at difficulty 1, i.e. one per 2^32 good hashes, counted over the
window named by the API field, e.g. "GHS 5s"). Hardware errors are counted the same way at the chips' ticket
difficulty. Sensors add noise and quantization, and the API serves a snapshot refreshed only every
``spec.api_refresh_s`` (bmminer/ESP-Miner refresh their values periodically, not per request).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .params import SimParams
from .physics import Physics

TWO32 = float(1 << 32)


def _poisson_each(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """rng.poisson(lam) for a short 1-D lam, drawn one element at a time: the same draws from the same stream
    (the generator samples an array element by element), at a fifth of the cost of the array call's argument
    checks, which dominate for the 1-3 chains of a device (twice per physics tick)."""
    return np.array([rng.poisson(x) for x in lam.tolist()], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The firmware's view at time t_s (clock seconds). Temperatures degC, power W, rates H/s, voltages V."""

    t_s: float
    uptime_s: float
    hashrate_5s_hs: float
    hashrate_1m_hs: float
    hashrate_av_hs: float
    expected_hashrate_hs: float
    chain_hashrate_hs: tuple[float, ...]
    chain_expected_hs: tuple[float, ...]
    chain_board_c: tuple[float, ...]
    chain_chip_c: tuple[float, ...]
    chain_chips_ok: tuple[str, ...]  # per chain: "o" per live chip, "x" per dead one
    chain_hw_errors: tuple[int, ...]
    chip_temp_avg_c: float
    vr_temp_c: float
    fan_rpm: tuple[int, ...]
    fan_percent: float
    power_w: float
    input_voltage_v: float
    core_voltage_v: float
    frequency_hz: float
    hw_errors: int
    error_fraction: float
    hashing: bool


@dataclass(slots=True)
class Counters:
    accepted: int = 0
    rejected: int = 0
    submitted: int = 0
    difficulty_accepted: float = 0.0
    best_difficulty: float = 0.0
    last_share_t_s: float = 0.0
    pool_difficulty: float = 0.0
    reject_reasons: dict[str, int] = field(default_factory=dict)


WINDOW_S = 60.0  # the longest hashrate average a firmware reports (1 minute)


class Firmware:
    """Turns the physics into reported numbers. Call :meth:`tick` after every physics advance."""

    def __init__(self, spec: SimParams, physics: Physics, rng: np.random.Generator, t0_s: float,
                 hw_ticket_diff: float = 64.0, input_voltage_v: float = 12.0) -> None:
        self.spec = spec
        self.physics = physics
        self.rng = rng
        self.boot_t_s = t0_s
        self.hw_ticket_diff = hw_ticket_diff
        self.input_voltage_v = input_voltage_v
        self.counters = Counters()
        self._last_good = physics.good_hashes
        self._last_bad = physics.bad_hashes
        self._window: deque[tuple[float, float, np.ndarray]] = deque()  # (t, dt, per-chain nonce counts)
        # the window's sums, kept as entries come and go: the 1-minute rate without re-adding ~600 ticks each read
        self._window_counts = np.zeros(spec.chains)
        self._window_s = 0.0
        self._total_counts = 0.0
        self._counted_s = 0.0
        self.chain_hw = np.zeros(spec.chains, dtype=np.int64)
        self.snapshot = self._read(t0_s)
        self._next_refresh = t0_s + min(1.0, spec.api_refresh_s)

    def reboot(self, t_s: float) -> None:
        """Firmware restart: uptime and all counters start again."""
        self.boot_t_s = t_s
        self.counters = Counters()
        self._window.clear()
        self._window_counts = np.zeros(self.spec.chains)
        self._window_s = 0.0
        self._total_counts = 0.0
        self._counted_s = 0.0
        self.chain_hw[:] = 0
        self._last_good = self.physics.good_hashes
        self._last_bad = self.physics.bad_hashes
        # the first values appear ~1 s after boot, then at the firmware's refresh period
        self._next_refresh = t_s + min(1.0, self.spec.api_refresh_s)
        self.snapshot = self._read(t_s)

    def tick(self, t_s: float, dt_s: float) -> Snapshot | None:
        """Count what the chips returned during the last dt; return a new snapshot when one is due."""
        p = self.physics
        good = p.good_hashes - self._last_good
        bad = p.bad_hashes - self._last_bad
        self._last_good, self._last_bad = p.good_hashes, p.bad_hashes
        if dt_s > 0:
            raw, err = p.chip_raw_hashrate_hs(), p.error_rate()  # once per tick (what chain_hashrate_hs() computes)
            share = np.bincount(p.chain_of, raw * (1.0 - err), self.spec.chains)  # float64 (float weights)
            tot = share.sum()
            frac = share / tot if tot > 0 else np.zeros_like(share)
            counts = _poisson_each(self.rng, np.maximum(good * frac / TWO32, 0.0)).astype(np.float64)
            raw_chain = np.bincount(p.chain_of, raw * err, self.spec.chains)
            raw_bad = raw_chain.sum()
            bad_frac = raw_chain / raw_bad if raw_bad > 0 else np.zeros_like(raw_chain)
            self.chain_hw += _poisson_each(self.rng, np.maximum(bad * bad_frac / (TWO32 * self.hw_ticket_diff), 0.0))
            self._window.append((t_s, dt_s, counts))
            self._window_counts += counts
            self._window_s += dt_s
            self._total_counts += float(counts.sum())
            self._counted_s += dt_s
            while self._window and self._window[0][0] <= t_s - WINDOW_S:
                _, old_dt, old = self._window.popleft()
                self._window_counts -= old
                self._window_s -= old_dt
            if not self._window:
                self._window_counts[:] = 0.0
                self._window_s = 0.0
        if t_s >= self._next_refresh:
            self._next_refresh = t_s + self.spec.api_refresh_s
            self.snapshot = self._read(t_s)
            return self.snapshot
        return None

    def _rate(self, t_s: float, span_s: float) -> tuple[float, np.ndarray]:
        if span_s >= WINDOW_S and (not self._window or self._window[-1][0] == t_s):
            counts, covered = self._window_counts.copy(), self._window_s  # the whole window: its running sums
        else:
            counts = np.zeros(self.spec.chains)
            covered = 0.0
            for t, dt, c in reversed(self._window):
                if t <= t_s - span_s:
                    break
                counts += c
                covered += dt
        if covered <= 0:
            return 0.0, counts
        per_chain = counts * TWO32 / covered
        return float(per_chain.sum()), per_chain

    def _temp(self, value: np.ndarray | float) -> np.ndarray:
        noisy = np.asarray(value, dtype=np.float64) + self.rng.normal(0.0, self.spec.temp_noise_c, np.shape(value))
        q = self.spec.temp_quantum_c
        return np.round(noisy / q) * q

    def _read(self, t_s: float) -> Snapshot:
        p, s = self.physics, self.spec
        rate_5s, chain_5s = self._rate(t_s, 5.0)
        rate_1m, _ = self._rate(t_s, 60.0)
        rate_av = self._total_counts * TWO32 / self._counted_s if self._counted_s > 0 else 0.0
        board = self._temp(p.t_board + p.var.sensor_offset_c)
        chip = self._temp(p.chain_die_max_c())
        rpm_noise = p.fan_rpm * (1.0 + self.rng.normal(0.0, 0.005, s.fans))
        rpm = np.round(np.maximum(rpm_noise, 0.0) / s.rpm_quantum) * s.rpm_quantum
        exp_chain = np.bincount(p.chain_of, p.freq_hz * s.cores_per_chip * p.alive, s.chains)
        alive = p.alive.reshape(s.chains, s.chips_per_chain)
        power = p.power_w * (1.0 + float(self.rng.normal(0.0, 0.005)))
        return Snapshot(
            t_s=t_s,
            uptime_s=max(0.0, t_s - self.boot_t_s),
            hashrate_5s_hs=rate_5s,
            hashrate_1m_hs=rate_1m,
            hashrate_av_hs=rate_av,
            expected_hashrate_hs=p.expected_hashrate_hs,
            chain_hashrate_hs=tuple(float(x) for x in chain_5s),
            chain_expected_hs=tuple(float(x) for x in exp_chain),
            chain_board_c=tuple(float(x) for x in board),
            chain_chip_c=tuple(float(x) for x in chip),
            chain_chips_ok=tuple("".join("o" if a else "x" for a in row) for row in alive),
            chain_hw_errors=tuple(int(x) for x in self.chain_hw),
            chip_temp_avg_c=float(self._temp(float(p.t_die.mean()))),
            vr_temp_c=float(self._temp(float(p.t_board.mean()) + 6.0)),
            fan_rpm=tuple(int(x) for x in rpm),
            fan_percent=round(p.fan_percent, 1),
            power_w=power,
            input_voltage_v=self.input_voltage_v * (1.0 + float(self.rng.normal(0.0, 0.002))),
            core_voltage_v=float(p.voltage_v.mean()),
            frequency_hz=float(p.freq_hz.mean()),
            hw_errors=int(self.chain_hw.sum()),
            error_fraction=p.error_fraction,
            hashing=p.hashing,
        )
