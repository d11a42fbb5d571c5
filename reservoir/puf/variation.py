"""Between-session variation of one device: ageing, drift, heatsink remounts, fan replacement (and ambient).

A fingerprint is only worth something if it survives what happens to a device between enrolment and
verification. The simulator draws a device's physics from its serial once; this module changes that physics the
way time and service change a real miner, deterministically from (serial, event), so every session after the
same event sees the same changed device:

* **ageing** (BTI): each chip's threshold voltage rises by ΔV = A·(t / 1 year)^n, with a per-chip rate
  (lognormal spread); leakage falls with it, I_leak × exp(−ΔV / (n_ss·kT/q)). The power-law time dependence is
  the standard bias-temperature-instability form (reaction–diffusion model, n ≈ 1/6: Alam & Mahapatra,
  Microelectronics Reliability 45 (2005) 71–81); the subthreshold factor is textbook MOS physics (swing
  ≈ 90 mV/decade, n_ss·kT/q ≈ 39 mV at 300 K). **Assumption**: A = 5 mV after one year of 24/7 mining, per-chip
  spread σ_ln = 0.3 (no public BTI data exist for BM1366/BM1387).
* **sensor drift**: the board sensor's offset walks, σ = 0.5 °C·√(t / 1 year) per chain (**assumption**; typical
  digital sensors are specified to ±1 °C absolute).
* **fan wear**: the fan's top speed falls by 2 % ± 1 % per year (**assumption**: bearing wear).
* **remount** (heatsink off and on, new thermal paste): the board→heatsink resistance is redrawn ×lognormal(σ
  0.15) for the device and each die's die→board resistance ×lognormal(σ 0.10) (**assumption**: bond-line thickness
  and contact pressure vary between mounts; the simulator has one board→sink resistance per model, so one factor
  per device).
* **fan replacement**: each replaced fan's top speed is drawn afresh from the population the simulator draws the
  original from (mean 1, σ 3 %, the simulator's own spread: an assumption of `drivers/sim/physics.py`).
* **ambient** is set per session by the caller (the evaluation draws "field" ambients uniformly in 18–32 °C,
  an assumption for indoor home miners).

Known limit (stated in docs/puf.md): the simulator's hardware-error model has no temperature dependence of the
voltage margin below the critical temperature, so the per-chip nonce features are insensitive to ambient and
cooling by construction; real critical paths slow down with temperature. Results for the nonce group are
therefore an optimistic bound on its robustness to ambient, fan and remount.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from asicrc.drivers.seeds import stable_int
from asicrc.drivers.sim import Physics, SimParams

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, slots=True)
class SessionState:
    """What has happened to the device since enrolment, at the time of a session."""

    age_days: float = 0.0  # time since enrolment (ageing, sensor drift, fan wear)
    remounts: int = 0  # heatsink remounts / thermal-paste changes since enrolment
    fans_replaced: int = 0  # fan replacements since enrolment

    def validate(self) -> None:
        if not 0 <= self.age_days <= 20 * DAYS_PER_YEAR:
            raise ValueError(f"age must be 0..{20 * DAYS_PER_YEAR:g} days, got {self.age_days!r}")
        if self.remounts < 0 or self.fans_replaced < 0:
            raise ValueError("remount and fan-replacement counts must be >= 0")

    @property
    def is_factory(self) -> bool:
        return self.age_days == 0 and self.remounts == 0 and self.fans_replaced == 0


@dataclass(frozen=True, slots=True)
class VariationModel:
    """Magnitudes of between-session variation (sources and assumptions in the module docstring)."""

    bti_v_at_1y: float = 0.005
    bti_time_exponent: float = 1.0 / 6.0
    bti_chip_spread: float = 0.3
    subthreshold_n_vt_v: float = 0.039
    sensor_drift_c_per_sqrt_year: float = 0.5
    fan_wear_per_year: float = 0.02
    fan_wear_spread_per_year: float = 0.01
    remount_board_sink_sigma: float = 0.15
    remount_die_board_sigma: float = 0.10
    fan_gain_sigma: float = 0.03

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_VARIATION = VariationModel()


def _rng(spec: SimParams, serial: str, event: str) -> np.random.Generator:
    return np.random.default_rng(stable_int(f"{spec.name}/{serial}/session-variation/{event}"))


def session_spec(spec: SimParams, serial: str, state: SessionState,
                 model: VariationModel = DEFAULT_VARIATION) -> SimParams:
    """The model constants as this device has them now: a remount changes its board→heatsink resistance."""
    state.validate()
    if state.remounts == 0:
        return spec
    factor = float(_rng(spec, serial, f"remount/{state.remounts}").lognormal(0.0, model.remount_board_sink_sigma))
    return dataclasses.replace(spec, r_board_sink=spec.r_board_sink * factor)


def apply_session_state(phys: Physics, state: SessionState, model: VariationModel = DEFAULT_VARIATION) -> None:
    """Change the device's per-chip parameters (`phys.var`) to what they are after `state`'s events."""
    state.validate()
    if state.is_factory:
        return
    spec, serial, var = phys.spec, phys.serial, phys.var
    years = state.age_days / DAYS_PER_YEAR
    changes: dict[str, Any] = {}
    v_th, i_leak, r_die, fan_gain = var.v_th_v, var.i_leak_a, var.r_die_board, var.fan_gain
    if years > 0:
        rates = _rng(spec, serial, "bti").lognormal(0.0, model.bti_chip_spread, v_th.size)
        dv = model.bti_v_at_1y * years ** model.bti_time_exponent * rates
        v_th = v_th + dv
        i_leak = i_leak * np.exp(-dv / model.subthreshold_n_vt_v)
        walk = _rng(spec, serial, "sensor-drift").normal(0.0, 1.0, var.sensor_offset_c.size)
        changes["sensor_offset_c"] = var.sensor_offset_c + model.sensor_drift_c_per_sqrt_year * np.sqrt(years) * walk
    if state.remounts:
        rng = _rng(spec, serial, f"remount-dies/{state.remounts}")
        r_die = r_die * rng.lognormal(0.0, model.remount_die_board_sigma, r_die.size)
    if state.fans_replaced:
        rng = _rng(spec, serial, f"fan/{state.fans_replaced}")
        fan_gain = rng.normal(1.0, model.fan_gain_sigma, fan_gain.size)
    if years > 0:  # wear of whichever fans are fitted now (a new fan has worn for less time: not modelled)
        wear = _rng(spec, serial, f"fan-wear/{state.fans_replaced}").normal(
            model.fan_wear_per_year, model.fan_wear_spread_per_year, fan_gain.size)
        fan_gain = fan_gain * (1.0 - np.clip(wear, 0.0, None) * years)
    changes.update(v_th_v=v_th, i_leak_a=i_leak, r_die_board=r_die, fan_gain=fan_gain)
    phys.var = dataclasses.replace(var, **changes)
