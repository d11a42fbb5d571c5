"""Two simulated LV06 variants that exist only as controls for the reservoir experiments (docs/reservoir.md):

* ``SimPlantedLV06`` (model ``planted``): an LV06 whose reported sensors carry a small software reservoir, a
  leaky echo-state network driven by the device's actuation inputs *as they physically reach it*: the pool
  difficulty of the job it hashes (log2), its clock frequency, core voltage and manual fan setpoint, each averaged
  over the reservoir's update period. Four projections of the reservoir state are added to what its power monitor,
  VR temperature sensor, core-voltage sense line and fan tachometer report. A device that does add information
  over its input: the pipeline must say so (the positive control).
* ``SimInertLV06`` (model ``inert``): an LV06 whose physics ignore the input: frequency, voltage and fan changes are
  accepted and echoed back as settings (as firmware echoes setpoints) but the chip keeps its stock operating
  point, and the same reservoir machinery moves its sensor readings by the same amount, driven by the device's
  own noise instead of the input. Same features, same variance, no information (the negative control). Share
  difficulty still thins the share stream, as it does on every miner: that is the pool's rule, not physics.

Both speak the LV06's AxeOS HTTP API and Stratum, so the host reaches them through exactly the LV06 driver.
The reservoir is evaluated lazily at the firmware's snapshot times (what the API serves), from the recorded
history of the actuation inputs, so it needs no hook in the physics loop and is deterministic in simulated time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.seeds import stable_int
from asicrc.drivers.stratum.client import Job

from .lv06 import SimLV06
from .params import INERT, PLANTED

F64 = npt.NDArray[np.float64]
N_INPUTS = 4  # log2 pool difficulty, frequency MHz, core voltage mV, manual fan percent (0 under auto fan)
# what each projection of the reservoir state moves in the AxeOS reply, per unit of projection
CHANNELS: tuple[tuple[str, float, int], ...] = (
    ("power", 1.5, 3),  # W (the power monitor), rounded as reported
    ("vrTemp", 4.0, 2),  # degC
    ("coreVoltageActual", 40.0, 0),  # mV
    ("fanrpm", 500.0, 0),  # rpm
)


@dataclass(frozen=True, slots=True)
class PlantedConfig:
    """A leaky ESN updated every ``update_s`` simulated seconds: x <- (1-a) x + a tanh(W x + W_in z + b)."""

    units: int = 100
    spectral_radius: float = 0.95
    input_scaling: float = 0.1  # per standardised input: near-linear around the bias point, long memory
    bias: float = 0.5  # breaks the odd symmetry (products of inputs need it)
    leak: float = 0.2  # memory of ~1/leak updates: a few steps at the default 1 s step
    update_s: float = 1.0
    reading_std: float = 0.5  # std of each projection under a unit-variance input (calibrated at construction)


@dataclass(slots=True)
class _RunningNorm:
    """Running mean/std per input (cumulative for the first `horizon` samples, exponentially weighted after), so
    the device standardises what it sees without knowing the experiment, and forgets its start-up transient.
    Unknown inputs (NaN, e.g. no job yet) contribute 0 and do not enter the statistics."""

    horizon: int = 200
    n: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(N_INPUTS, dtype=np.int64))
    mean: F64 = field(default_factory=lambda: np.zeros(N_INPUTS))
    var: F64 = field(default_factory=lambda: np.zeros(N_INPUTS))

    def standardise(self, x: F64) -> F64:
        ok = np.isfinite(x)
        self.n = self.n + ok
        w = np.where(ok, 1.0 / np.minimum(np.maximum(self.n, 1), self.horizon), 0.0)
        xs = np.where(ok, x, self.mean)
        d = xs - self.mean
        self.mean = self.mean + w * d
        self.var = (1.0 - w) * (self.var + w * d * d)
        sd = np.sqrt(self.var)
        # a constant input has x == mean exactly, so it contributes 0 whatever the floor
        z = np.where(ok & (sd > 0), (xs - self.mean) / np.maximum(sd, 1e-12), 0.0)
        return np.asarray(z, dtype=np.float64).clip(-4.0, 4.0)


class KnobHistory:
    """Piecewise-constant history of the input vector; mean over an interval. Bounded: pruned as it is read."""

    def __init__(self, t0: float, value: F64) -> None:
        self._t: list[float] = [t0]
        self._v: list[F64] = [value.copy()]

    @property
    def current(self) -> F64:
        return self._v[-1].copy()

    def record(self, t: float, value: F64) -> None:
        if t < self._t[-1]:
            t = self._t[-1]  # clock reads never go back; guard against equal-time reorderings
        if t == self._t[-1]:
            self._v[-1] = value.copy()
        else:
            self._t.append(t)
            self._v.append(value.copy())

    def mean(self, a: float, b: float) -> F64:
        """Time average over [a, b] (b > a); then forget everything before a change that precedes b."""
        acc = np.zeros(N_INPUTS)
        for i, (t, v) in enumerate(zip(self._t, self._v, strict=True)):
            end = self._t[i + 1] if i + 1 < len(self._t) else math.inf
            lo, hi = max(a, t), min(b, end)
            if hi > lo:
                acc += v * (hi - lo)
        keep = max(0, int(np.searchsorted(self._t, b, side="right")) - 1)
        del self._t[:keep], self._v[:keep]
        return acc / (b - a)


class PlantedReservoir:
    """The reservoir inside a planted (or inert) device; ``projections(t)`` is its read-out at time t."""

    def __init__(self, cfg: PlantedConfig, seed: int, t0: float) -> None:
        rng = np.random.default_rng(seed)
        n = cfg.units
        W = rng.normal(size=(n, n))
        W *= cfg.spectral_radius / float(np.max(np.abs(np.linalg.eigvals(W))))
        self.cfg = cfg
        self._WT = W.T.copy()
        self._W_in = rng.uniform(-1.0, 1.0, size=(N_INPUTS, n)) * cfg.input_scaling
        self._b = np.full(n, cfg.bias) + rng.normal(0.0, 0.1, n)
        proj = rng.normal(size=(n, len(CHANNELS)))
        self._proj = proj / np.linalg.norm(proj, axis=0)  # unit-norm projections of the state
        self._x = np.zeros(n)
        for _ in range(400):  # the rest point with no input (the bias alone): readings are deviations from it
            self._step(np.zeros(N_INPUTS))
        self._rest = self._x.copy()
        self._scale = np.ones(len(CHANNELS))
        self._scale = cfg.reading_std / np.maximum(self._calibrate(rng), 1e-12)
        self._x = self._rest.copy()
        self._t = t0  # time of the last update
        self._norm = _RunningNorm()
        self.updates = 0

    def _calibrate(self, rng: np.random.Generator, updates: int = 600) -> F64:
        """Std of each raw projection under unit-variance noise on one input (the first 100 updates dropped)."""
        out = []
        for i in range(updates):
            z = np.zeros(N_INPUTS)
            z[0] = rng.uniform(-1.0, 1.0) * math.sqrt(3.0)
            self._step(z)
            if i >= 100:
                out.append(self.projections())
        return np.asarray(np.std(out, axis=0), dtype=np.float64)

    def _step(self, z: F64) -> None:
        pre = np.tanh(self._x @ self._WT + z @ self._W_in + self._b)
        self._x = (1.0 - self.cfg.leak) * self._x + self.cfg.leak * pre

    def advance(self, t: float, drive: KnobHistory | np.random.Generator) -> None:
        """Update once per elapsed period; the input of each update is the mean knob vector over that period (or,
        for an inert device, its own i.i.d. noise)."""
        cfg = self.cfg
        while self._t + cfg.update_s <= t:
            a, b = self._t, self._t + cfg.update_s
            if isinstance(drive, np.random.Generator):
                # an inert device: its own unit-variance noise on one input, as a planted device under one
                # varying knob sees its standardised input
                z = np.zeros(N_INPUTS)
                z[0] = drive.uniform(-1.0, 1.0) * math.sqrt(3.0)
            else:
                z = self._norm.standardise(drive.mean(a, b))
            self._step(z)
            self._t = b
            self.updates += 1

    def projections(self) -> F64:
        # deviations from the rest point, so that readings sit around the physical value
        return np.asarray((self._x - self._rest) @ self._proj * self._scale, dtype=np.float64)


class _ReservoirLV06(SimLV06):
    """Shared machinery: the knob history, the reservoir, and the sensor readings it moves."""

    planted_config = PlantedConfig()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._setpoints = {"frequency": self.spec.freq_hz / 1e6, "coreVoltage": self.spec.voltage_v * 1e3,
                           "fanspeed": None}
        self.knobs = KnobHistory(self.clock.now(), self._knob_vector())
        seed = stable_int(f"planted/{self.spec.name}/{self.serial}/{self.seed}")
        self.reservoir = PlantedReservoir(self.planted_config, seed, self.clock.now())
        self._noise = np.random.default_rng([seed & 0xFFFFFFFF, 17])
        self._read_at: float | None = None
        self._readings = np.zeros(len(CHANNELS))

    def _knob_vector(self) -> F64:
        diff = self.firmware.counters.pool_difficulty
        fan = self._setpoints["fanspeed"]
        return np.array([math.log2(diff) if diff > 0 else math.nan, self._setpoints["frequency"] or 0.0,
                         self._setpoints["coreVoltage"] or 0.0, 0.0 if fan is None else fan])

    def _knob_changed(self) -> None:
        self.knobs.record(self.clock.now(), self._knob_vector())

    def _on_job(self, job: Job) -> None:
        super()._on_job(job)
        self._knob_changed()

    def set_frequency_mhz(self, mhz: float, chips: Any = None) -> None:
        super().set_frequency_mhz(mhz, chips)
        self._setpoints["frequency"] = float(mhz)
        self._knob_changed()

    def set_core_voltage_mv(self, mv: float, chips: Any = None) -> None:
        super().set_core_voltage_mv(mv, chips)
        self._setpoints["coreVoltage"] = float(mv)
        self._knob_changed()

    def set_fan_percent(self, percent: float | None) -> None:
        super().set_fan_percent(percent)
        self._setpoints["fanspeed"] = None if percent is None else float(percent)
        self._knob_changed()

    def _drive(self) -> KnobHistory | np.random.Generator:
        return self.knobs

    def readings(self) -> F64:
        """The reservoir's projections at the present API snapshot (the firmware refreshes values periodically)."""
        t = self.snapshot.t_s
        if self._read_at != t:
            self.reservoir.advance(t, self._drive())
            self._readings = self.reservoir.projections()
            self._read_at = t
        return self._readings.copy()

    def system_info(self) -> dict[str, Any]:
        info = super().system_info()
        snap = self.snapshot
        physical = {"power": snap.power_w, "vrTemp": snap.vr_temp_c,
                    "coreVoltageActual": float(info["coreVoltageActual"]), "fanrpm": float(info["fanrpm"])}
        for (key, gain, digits), value in zip(CHANNELS, self.readings(), strict=True):
            moved = max(0.0, physical[key] + gain * float(value))
            info[key] = round(moved, digits) if digits else round(moved)
        return info


class SimPlantedLV06(_ReservoirLV06):
    """``planted``: the reservoir is driven by the actuation inputs as they reach the device."""

    spec = PLANTED


class SimInertLV06(_ReservoirLV06):
    """``inert``: physics and reservoir ignore the input; settings are echoed back, nothing else changes."""

    spec = INERT

    def set_frequency_mhz(self, mhz: float, chips: Any = None) -> None:
        self._setpoints["frequency"] = float(mhz)  # echoed as the setting; the PLL is not touched

    def set_core_voltage_mv(self, mv: float, chips: Any = None) -> None:
        self._setpoints["coreVoltage"] = float(mv)

    def set_fan_percent(self, percent: float | None) -> None:
        self._setpoints["fanspeed"] = None if percent is None else float(percent)

    def _drive(self) -> KnobHistory | np.random.Generator:
        return self._noise

    def system_info(self) -> dict[str, Any]:
        info = super().system_info()
        # the firmware reports its settings (what the host asked for), the physics stay at the stock point
        info["frequency"] = round(float(self._setpoints["frequency"] or 0.0), 2)
        info["coreVoltage"] = round(float(self._setpoints["coreVoltage"] or 0.0))
        fan = self._setpoints["fanspeed"]
        if fan is not None:
            info["fanspeed"], info["autofanspeed"] = round(fan), 0
        return info
