"""The physical state of one simulated miner: chips, power, heat, fans and hardware errors (pure numpy).

Model (SI units; see params.py for the constants):
- per chip i: frequency f_i, core voltage V_i, alive flag; raw hashrate f_i * cores;
- power P_i = c_i f_i V_i^2 + V_i I_i exp((T_i - 25)/T_leak)  (dynamic + leakage that rises with temperature);
- hardware-error fraction e_i = floor + logistic((V_min,i(f_i) - V_i)/s_V) + exp((T_i - T_crit)/s_T), clipped to 1,
  with V_min,i(f) = v_th,i + k f: too little voltage for the clock, or too hot, and errors rise steeply;
- true hashrate = sum_i f_i cores (1 - e_i) over live chips;
- a lumped thermal RC network per chain: die_i -> board -> heatsink -> ambient air, the last conductance rising
  with fan speed; fans follow their setpoint with a first-order lag; an optional PI controller sets the fan
  from the hottest die (firmware auto-fan);
- a junction-temperature limit (spec.t_shutdown_c): a chip reaching it is tripped (no hashing, no core power,
  state "shutdown") until it has cooled by spec.shutdown_hysteresis_k, so no temperature runs away whatever the
  cooling (leakage is exponential in T and would otherwise feed on itself);
- per-chip process variation (v_th, c, I_leak, die thermal resistance) drawn once from the serial, so a serial
  is a stable identity; sensor noise comes from a separate generator seeded by (seed, serial).

Integration: exponential Euler per node with sub-steps <= spec.max_substep_s (unconditionally stable, accurate
to a few % for the die/board/sink time constants of ~1 s / ~5 s / ~100 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asicrc.drivers.seeds import stable_int

from .params import SimParams

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ChipVariation:
    """Per-chip manufacturing variation; a pure function of (model, serial)."""

    v_th_v: F64
    c_dyn_f: F64
    i_leak_a: F64
    r_die_board: F64
    fan_gain: F64  # per fan: max RPM relative to nominal
    sensor_offset_c: F64  # per chain: board sensor calibration offset

    def vector(self) -> F64:
        """All per-chip parameters as one vector (the device's physical signature)."""
        return np.concatenate([self.v_th_v, self.c_dyn_f, self.i_leak_a, self.r_die_board])


def chip_variation(spec: SimParams, serial: str) -> ChipVariation:
    if not serial:
        raise ValueError("serial must be a non-empty string (it seeds the chips' process variation)")
    rng = np.random.default_rng(stable_int(f"{spec.name}/{spec.chip}/{serial}"))
    n = spec.chains * spec.chips_per_chain
    return ChipVariation(
        v_th_v=spec.v_th_v + rng.normal(0.0, spec.v_sigma_v, n),
        c_dyn_f=spec.c_dyn_f * rng.lognormal(0.0, 0.03, n),
        i_leak_a=spec.i_leak_a * rng.lognormal(0.0, 0.15, n),
        r_die_board=spec.r_die_board * rng.lognormal(0.0, 0.08, n),
        fan_gain=rng.normal(1.0, 0.03, spec.fans),
        sensor_offset_c=rng.normal(0.0, 0.7, spec.chains),
    )


class Physics:
    """Live physical state of one device. Advance it with :meth:`advance` (seconds of simulated time)."""

    def __init__(self, spec: SimParams, serial: str, seed: int = 0, ambient_c: float = 25.0,
                 start_warm: bool = True) -> None:
        self.spec = spec
        self.serial = serial
        self.var = chip_variation(spec, serial)
        self.rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, stable_int(serial) & 0xFFFFFFFF])
        n = spec.chains * spec.chips_per_chain
        self.n_chips = n
        self.chain_of = np.repeat(np.arange(spec.chains), spec.chips_per_chain)
        self.freq_hz: F64 = np.full(n, spec.freq_hz)
        self.voltage_v: F64 = np.full(n, spec.voltage_v)
        self.alive = np.ones(n, dtype=bool)
        self.shutdown = np.zeros(n, dtype=bool)  # tripped at the junction-temperature limit
        self.shutdown_events = 0  # trips so far (each chip each time)
        self.fans_failed = False  # fan death: rotors stop whatever the setpoint
        self.hashing = True  # False while paused or rebooting
        self.ambient_c = float(ambient_c)
        self.t_s = 0.0  # simulated seconds since creation
        self.fan_auto = True
        self.fan_percent = 100.0  # current setpoint (auto: controller output)
        self._fan_integral = 70.0
        self.fan_rpm: F64 = np.zeros(spec.fans)
        self.t_die: F64 = np.full(n, self.ambient_c)
        self.t_board: F64 = np.full(spec.chains, self.ambient_c)
        self.t_sink: F64 = np.full(spec.chains, self.ambient_c)
        # integrals for the firmware layer (hashes done, good and bad)
        self.good_hashes = 0.0
        self.bad_hashes = 0.0
        self.energy_j = 0.0
        if start_warm:
            self.settle()

    # ---- actuation ---------------------------------------------------------------------------------
    def _chips(self, chips: npt.ArrayLike | None) -> npt.NDArray[np.intp]:
        if chips is None:
            return np.arange(self.n_chips)
        idx = np.atleast_1d(np.asarray(chips, dtype=np.intp))
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_chips):
            raise ValueError(f"chip index out of range 0..{self.n_chips - 1}: {idx.tolist()}")
        return idx

    def set_frequency(self, hz: float, chips: npt.ArrayLike | None = None) -> None:
        if not 0 < hz < 5e9:
            raise ValueError(f"frequency must be in (0, 5 GHz), got {hz!r} Hz")
        self.freq_hz[self._chips(chips)] = hz

    def set_voltage(self, volts: float, chips: npt.ArrayLike | None = None) -> None:
        if not 0 < volts < 2.0:
            raise ValueError(f"core voltage must be in (0, 2 V), got {volts!r} V")
        self.voltage_v[self._chips(chips)] = volts

    def set_fan(self, percent: float | None) -> None:
        """Manual fan percent, or None for the firmware's automatic control."""
        if percent is None:
            self.fan_auto = True
            return
        if not 0 <= percent <= 100:
            raise ValueError(f"fan percent must be in 0..100, got {percent!r}")
        self.fan_auto = False
        self.fan_percent = float(percent)

    def set_ambient(self, celsius: float) -> None:
        if not -40 <= celsius <= 80:
            raise ValueError(f"ambient must be in -40..80 degC, got {celsius!r}")
        self.ambient_c = float(celsius)

    def kill_chips(self, chips: npt.ArrayLike) -> None:
        self.alive[self._chips(chips)] = False

    def fail_fans(self) -> None:
        """Fan death: every fan stops (bearing seized / cable off); only natural convection cools the sink."""
        self.fans_failed = True

    def kill_chain(self, chain: int) -> None:
        if not 0 <= chain < self.spec.chains:
            raise ValueError(f"chain must be in 0..{self.spec.chains - 1}, got {chain}")
        self.alive[self.chain_of == chain] = False

    # ---- derived quantities -----------------------------------------------------------------------
    def _leak_w(self) -> F64:
        """Leakage power per chip, its temperature term capped at the junction limit (above it the chip is off)."""
        t = np.minimum(self.t_die, self.spec.t_shutdown_c)
        return self.voltage_v * self.var.i_leak_a * np.exp((t - 25.0) / self.spec.leak_temp_k)

    def powered(self) -> npt.NDArray[np.bool_]:
        """Chips with core power: alive and not tripped by the temperature limit."""
        # alive > shutdown is alive & ~shutdown in one ufunc instead of two (called several times per tick)
        return np.greater(self.alive, self.shutdown)

    def chip_power_w(self) -> F64:
        v = self.voltage_v
        dyn = self.var.c_dyn_f * self.freq_hz * v * v
        activity = np.where(self.alive & self.hashing, 1.0, 0.05)  # clock-gated when idle or dead
        return (dyn * activity + self._leak_w()) * self.powered()

    def chip_state(self) -> list[str]:
        """Per chip: "dead", "shutdown" (thermal trip), "hashing" or "idle" (device paused / rebooting)."""
        return ["dead" if not a else "shutdown" if s else "hashing" if self.hashing else "idle"
                for a, s in zip(self.alive.tolist(), self.shutdown.tolist(), strict=True)]

    def v_min_v(self) -> F64:
        return self.var.v_th_v + self.spec.k_fv * self.freq_hz

    def error_rate(self) -> F64:
        """Per-chip fraction of hashes that come out wrong (hardware errors)."""
        s = self.spec
        # minimum/maximum, not np.clip: the same values, at a fraction of np.clip's per-call cost (this runs a few
        # times per physics tick and per share)
        x = np.minimum(np.maximum((self.v_min_v() - self.voltage_v) / s.err_v_scale_v, -60.0), 60.0)
        volt = 1.0 / (1.0 + np.exp(-x))
        heat = np.exp(np.minimum(np.maximum((self.t_die - s.t_crit_c) / s.err_t_scale_k, -60.0), 5.0))
        return np.minimum(1.0, s.err_floor + volt + heat)

    def chip_raw_hashrate_hs(self) -> F64:
        on = self.powered() & self.hashing
        return np.where(on, self.freq_hz * self.spec.cores_per_chip, 0.0)

    def chip_hashrate_hs(self) -> F64:
        return self.chip_raw_hashrate_hs() * (1.0 - self.error_rate())

    @property
    def hashrate_hs(self) -> float:
        """True (effective) hashrate in H/s."""
        return float(self.chip_hashrate_hs().sum())

    @property
    def raw_hashrate_hs(self) -> float:
        return float(self.chip_raw_hashrate_hs().sum())

    def chain_hashrate_hs(self) -> F64:
        return np.bincount(self.chain_of, self.chip_hashrate_hs(), self.spec.chains).astype(np.float64)

    @property
    def expected_hashrate_hs(self) -> float:
        """Nominal hashrate of the live chips at their set frequency (what firmware calls 'ideal')."""
        return float((self.freq_hz * self.spec.cores_per_chip * self.alive).sum())

    @property
    def error_fraction(self) -> float:
        raw = self.chip_raw_hashrate_hs()
        total = raw.sum()
        return float((raw * self.error_rate()).sum() / total) if total > 0 else 0.0

    def fan_power_w(self) -> float:
        return self.spec.fan_w_full * (self.fan_percent / 100.0) ** 3

    @property
    def power_w(self) -> float:
        """Wall power (W): chips and fixed overhead through the supply, plus fans."""
        return self._wall_power_w(self.chip_power_w())

    def _wall_power_w(self, chip_power_w: F64) -> float:
        s = self.spec
        return float((chip_power_w.sum() + s.overhead_w) / s.psu_efficiency + self.fan_power_w())

    def chain_power_w(self) -> F64:
        return np.bincount(self.chain_of, self.chip_power_w(), self.spec.chains).astype(np.float64)

    def chain_die_max_c(self) -> F64:
        out = np.full(self.spec.chains, -np.inf)
        np.maximum.at(out, self.chain_of, self.t_die)
        return out

    def sink_air_conductance(self) -> F64:
        """Heatsink-to-air conductance per chain (W/K), rising with the mean fan speed."""
        s = self.spec
        # sum / size is what mean() computes (the same float), without its per-call dispatch
        frac = min(max(float(self.fan_rpm.sum()) / s.fans / s.fan_max_rpm, 0.0), 1.2) if s.fans else 0.0
        g_still, g_full = 1.0 / s.r_sink_air_still, 1.0 / s.r_sink_air_full
        return np.full(s.chains, g_still + (g_full - g_still) * frac**0.8)

    # ---- dynamics ---------------------------------------------------------------------------------
    def _fan_step(self, h: float) -> None:
        s = self.spec
        if self.fan_auto:
            err = float(self.t_die.max()) - s.fan_target_c
            self._fan_integral = min(max(self._fan_integral + 0.4 * err * h, 0.0), 100.0)
            self.fan_percent = min(max(6.0 * err + self._fan_integral, s.fan_min_percent), 100.0)
        target = s.fan_max_rpm * self.var.fan_gain * self.fan_percent / 100.0 * (not self.fans_failed)
        a = np.exp(-h / s.fan_tau_s)
        self.fan_rpm = target + (self.fan_rpm - target) * a

    def _thermal_step(self, h: float, p_chip: F64) -> None:
        s = self.spec
        g_die = 1.0 / self.var.r_die_board
        g_bs = 1.0 / s.r_board_sink
        g_sa = self.sink_air_conductance()
        board_of = self.t_board[self.chain_of]
        # die: relaxes towards board + P/G with tau = C/G
        eq = board_of + p_chip / g_die
        self_die_new = eq + (self.t_die - eq) * np.exp(-h * g_die / s.c_die)
        # board: heat in from its dies, out to its sink
        g_sum_b = np.bincount(self.chain_of, g_die, s.chains) + g_bs
        flow_in = np.bincount(self.chain_of, g_die * self.t_die, s.chains)
        eq_b = (flow_in + g_bs * self.t_sink) / g_sum_b
        board_new = eq_b + (self.t_board - eq_b) * np.exp(-h * g_sum_b / s.c_board)
        # heatsink: from board, out to ambient air
        g_sum_s = g_bs + g_sa
        eq_s = (g_bs * self.t_board + g_sa * self.ambient_c) / g_sum_s
        sink_new = eq_s + (self.t_sink - eq_s) * np.exp(-h * g_sum_s / s.c_sink)
        self.t_die, self.t_board, self.t_sink = self_die_new, board_new, sink_new

    def _trip_step(self) -> None:
        s = self.spec
        # runs twice per physics tick: the usual case (no die at the limit, none tripped) costs three array
        # operations instead of six, with the same result (a trip needs a hot die, a release a tripped chip)
        hot = self.t_die >= s.t_shutdown_c
        if hot.any():
            trip = self.powered() & hot
            if trip.any():
                # the trip happens when the die reaches the limit: the heat a sub-step would have added after that
                # instant is never generated, so the die is held at the limit rather than overshooting it
                self.t_die = np.where(trip, s.t_shutdown_c, self.t_die)
                self.shutdown |= trip
                self.shutdown_events += int(trip.sum())
        if self.shutdown.any():
            self.shutdown &= self.t_die > s.t_shutdown_c - s.shutdown_hysteresis_k

    def advance(self, dt: float) -> None:
        """Integrate `dt` seconds of simulated time."""
        if dt < 0:
            raise ValueError(f"cannot advance by a negative time {dt!r}")
        remaining = float(dt)
        while remaining > 1e-12:
            h = min(remaining, self.spec.max_substep_s)
            self._trip_step()  # a die already past the limit (e.g. set from outside) trips before it heats
            p = self.chip_power_w()
            raw = self.chip_raw_hashrate_hs()
            err = self.error_rate()
            self.good_hashes += float((raw * (1.0 - err)).sum()) * h
            self.bad_hashes += float((raw * err).sum()) * h
            self.energy_j += self._wall_power_w(p) * h
            self._fan_step(h)
            self._thermal_step(h, p)
            self._trip_step()
            self.t_s += h
            remaining -= h

    def _equilibrium(self, fan_percent: float) -> tuple[F64, F64, F64]:
        """Steady temperatures (die, board, sink) at a fixed fan percent, leakage solved by fixed point."""
        s = self.spec
        saved_rpm = self.fan_rpm
        self.fan_rpm = s.fan_max_rpm * self.var.fan_gain * fan_percent / 100.0 * (not self.fans_failed)
        g_sa = self.sink_air_conductance()
        self.fan_rpm = saved_rpm
        t_die = self.t_die.copy()
        saved_die = self.t_die
        try:
            for _ in range(60):
                self.t_die = t_die
                p = self.chip_power_w()
                chain_p = np.bincount(self.chain_of, p, s.chains)
                sink = self.ambient_c + chain_p / g_sa
                board = sink + chain_p * s.r_board_sink
                new = board[self.chain_of] + p * self.var.r_die_board
                done = np.abs(new - t_die).max() < 1e-6
                t_die = new
                if done:
                    break
        finally:
            self.t_die = saved_die
        return t_die, board, sink

    def settle(self) -> None:
        """Jump to the thermal and fan steady state of the current settings (t_s and counters unchanged).

        With automatic fan control the steady fan percent is the one that holds the hottest die at the
        target (bisection), clipped to [fan_min_percent, 100] as the controller's output is.
        """
        s = self.spec
        # chips that would sit above the junction limit are tripped (the static picture of a chip that keeps
        # tripping); marking only ever grows, so this converges in at most n_chips rounds
        while True:
            pct = self._settle_fan()
            t_die, board, sink = self._equilibrium(pct)
            over = self.powered() & (t_die >= s.t_shutdown_c)
            if not over.any():
                break
            self.shutdown |= over
        self.t_die, self.t_board, self.t_sink = t_die, board, sink
        self.fan_rpm = s.fan_max_rpm * self.var.fan_gain * pct / 100.0 * (not self.fans_failed)

    def _settle_fan(self) -> float:
        """Steady fan percent: the setpoint, or with auto fan the one holding the hottest die at the target."""
        s = self.spec
        pct = self.fan_percent
        if self.fan_auto:
            lo, hi = s.fan_min_percent, 100.0
            if self._equilibrium(lo)[0].max() <= s.fan_target_c:
                pct = lo
            elif self._equilibrium(hi)[0].max() >= s.fan_target_c:
                pct = hi
            else:
                for _ in range(40):
                    mid = 0.5 * (lo + hi)
                    if self._equilibrium(mid)[0].max() > s.fan_target_c:
                        lo = mid
                    else:
                        hi = mid
                pct = 0.5 * (lo + hi)
            self.fan_percent = pct
            self._fan_integral = pct - 6.0 * (float(self._equilibrium(pct)[0].max()) - s.fan_target_c)
        return pct

    # ---- analysis helpers -------------------------------------------------------------------------
    def thermal_matrix(self) -> F64:
        """Linearised thermal system dT/dt = A T + b (nodes: dies, boards, sinks), fan speed and settings frozen.

        Leakage enters as d P_leak / d T_die on the diagonal (it slows the response, and causes thermal
        runaway when it exceeds the die conductance).
        """
        s = self.spec
        n, c = self.n_chips, s.chains
        size = n + 2 * c
        a = np.zeros((size, size))
        g_die = 1.0 / self.var.r_die_board
        # d P_leak / d T: zero where the cap holds (at the limit) and for chips without power
        dleak = self._leak_w() * self.powered() * (self.t_die < s.t_shutdown_c) / s.leak_temp_k
        g_bs = 1.0 / s.r_board_sink
        g_sa = self.sink_air_conductance()
        for i in range(n):
            b = n + int(self.chain_of[i])
            a[i, i] = (-g_die[i] + dleak[i]) / s.c_die
            a[i, b] = g_die[i] / s.c_die
            a[b, i] = g_die[i] / s.c_board
            a[b, b] -= g_die[i] / s.c_board
        for ch in range(c):
            b, k = n + ch, n + c + ch
            a[b, b] -= g_bs / s.c_board
            a[b, k] = g_bs / s.c_board
            a[k, b] = g_bs / s.c_sink
            a[k, k] = -(g_bs + g_sa[ch]) / s.c_sink
        return a

    def thermal_time_constants_s(self) -> F64:
        """Time constants (s) of the linearised thermal network, slowest first."""
        eig = np.linalg.eigvals(self.thermal_matrix()).real
        return np.sort(-1.0 / eig[eig < 0])[::-1]

    def dominant_time_constant_s(self) -> float:
        return float(self.thermal_time_constants_s()[0])
