"""The planted and inert LV06 variants (drivers/sim/planted.py): the planted reservoir follows the actuation
inputs as they reach the device, the inert device's physics ignore them, and both report through AxeOS fields."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.sim.planted import (
    CHANNELS,
    KnobHistory,
    PlantedConfig,
    PlantedReservoir,
    SimInertLV06,
    SimPlantedLV06,
)


def test_knob_history_averages_piecewise_constant_inputs() -> None:
    h = KnobHistory(0.0, np.array([1.0, 0, 0, 0]))
    h.record(0.5, np.array([3.0, 0, 0, 0]))
    assert h.mean(0.0, 1.0)[0] == pytest.approx(2.0)
    assert h.mean(1.0, 2.0)[0] == pytest.approx(3.0)  # the value holds; history before 1.0 is forgotten
    h.record(2.25, np.array([np.nan, 0, 0, 0]))
    assert np.isnan(h.mean(2.0, 3.0)[0])  # an unknown input stays unknown (it does not enter the statistics)


def _drive(res: PlantedReservoir, values: list[float]) -> np.ndarray:
    h = KnobHistory(0.0, np.array([values[0], 485.0, 1200.0, 0.0]))
    out = []
    for t, v in enumerate(values, start=1):
        h.record(float(t - 1), np.array([v, 485.0, 1200.0, 0.0]))
        res.advance(float(t), h)
        out.append(res.projections())
    return np.array(out)


def test_planted_reservoir_remembers_its_input_and_ignores_constant_knobs() -> None:
    rng = np.random.default_rng(0)
    u = rng.uniform(-20.0, -18.0, 400).tolist()  # log2 pool difficulty as it reaches the device
    a = _drive(PlantedReservoir(PlantedConfig(), 7, 0.0), u)
    again = _drive(PlantedReservoir(PlantedConfig(), 7, 0.0), u)
    assert np.array_equal(a, again)  # deterministic: a function of the seed and the input history
    assert a.shape == (400, len(CHANNELS)) and np.all(a[100:].std(0) > 0.1)
    # memory: the readings at t depend on inputs several updates back (a low-pass, not a copy of u(t))
    lagged = [abs(np.corrcoef(a[100:, 0], np.roll(u, k)[100:])[0, 1]) for k in range(1, 8)]
    assert max(lagged) > 0.2
    flat = _drive(PlantedReservoir(PlantedConfig(), 7, 0.0), [-19.0] * 400)
    assert np.allclose(flat[100:], flat[100]) and np.abs(flat[100:]).max() < 0.2  # no input, no wandering


def test_inert_physics_ignore_the_knobs_but_echo_the_settings() -> None:
    inert = SimInertLV06(serial="I-1", seed=1, clock=Clock(speed=1.0))
    stock = inert.physics.freq_hz.copy()
    inert.set_frequency_mhz(530.0)
    inert.set_core_voltage_mv(1250.0)
    inert.set_fan_percent(80.0)
    assert np.array_equal(inert.physics.freq_hz, stock) and inert.physics.fan_auto
    info = inert.system_info()
    assert info["frequency"] == 530.0 and info["coreVoltage"] == 1250 and info["fanspeed"] == 80
    planted = SimPlantedLV06(serial="P-1", seed=1, clock=Clock(speed=1.0))
    planted.set_frequency_mhz(530.0)
    assert np.all(planted.physics.freq_hz == 530e6)  # a planted device keeps the LV06's physics
    assert planted.knobs.current[1] == 530.0
    assert {key for key, _, _ in CHANNELS} <= set(planted.system_info())
