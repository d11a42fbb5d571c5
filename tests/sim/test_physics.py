"""Physics of the simulated miners: steps, time constants, error rates, identity and determinism."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from asicrc.drivers.sim.firmware import Firmware
from asicrc.drivers.sim.params import LBBOX, LV06, S9
from asicrc.drivers.sim.physics import Physics, chip_variation


def lv06_at(volts: float = 1.3, fan: float | None = 60.0, serial: str = "LV06-A") -> Physics:
    p = Physics(LV06, serial, seed=1, start_warm=False)
    p.set_voltage(volts)
    p.set_fan(fan)
    p.settle()
    return p


def test_nominal_operating_points_are_plausible() -> None:
    s9 = Physics(S9, "S9-A")
    assert s9.n_chips == 189
    assert 12e12 < s9.hashrate_hs < 15e12
    assert 1100 < s9.power_w < 1600
    assert 60 < s9.t_die.max() < 90
    lv = Physics(LV06, "LV06-A")
    assert 3.8e11 < lv.hashrate_hs < 4.6e11
    assert 10 < lv.power_w < 20
    lb = Physics(LBBOX, "LB-A")
    assert 1.5e11 < lb.hashrate_hs < 2.0e11


def test_frequency_step_raises_hashrate_at_once_and_temperature_with_the_time_constant() -> None:
    p = lv06_at()
    t_before = float(p.t_die[0])
    h_before = p.hashrate_hs
    p.set_frequency(600e6)
    p.advance(0.01)
    # hashrate follows the clock immediately (error rate is negligible at 1.3 V)
    assert p.hashrate_hs / h_before == pytest.approx(600 / 485, rel=0.01)
    # temperature: compute the final value, then check the trajectory's slow mode
    final = Physics(LV06, "LV06-A", seed=1, start_warm=False)
    final.set_voltage(1.3)
    final.set_fan(60.0)
    final.set_frequency(600e6)
    final.settle()
    t_final = float(final.t_die[0])
    rise = t_final - t_before
    assert rise > 3.0
    tau = final.dominant_time_constant_s()
    assert 30 < tau < 600  # minutes-scale heatsink, not instantaneous
    times = np.arange(0.0, 4 * tau, 1.0)
    temps = []
    for _ in times:
        temps.append(float(p.t_die[0]))
        p.advance(1.0)
    temps_a = np.array(temps)
    # after 1 s only the fast die node has moved: far from the final rise
    assert temps_a[1] - t_before < 0.5 * rise
    # the remaining gap decays as exp(-t/tau) once the fast modes are gone
    late = (times > 0.5 * tau) & (times < 3 * tau)
    slope = np.polyfit(times[late], np.log(t_final - temps_a[late]), 1)[0]
    assert -1.0 / slope == pytest.approx(tau, rel=0.15)
    # and at t = tau the rise is well under way but not finished
    at_tau = temps_a[int(tau)] - t_before
    assert 0.45 * rise < at_tau < 0.85 * rise


def test_undervolting_raises_the_hardware_error_rate_steeply() -> None:
    rates = []
    for mv in (1250, 1200, 1150, 1120, 1100, 1080):
        p = lv06_at(volts=mv / 1000.0)
        rates.append(p.error_fraction)
    assert all(b > a for a, b in itertools.pairwise(rates))
    assert rates[-1] > 100 * rates[1]
    # and the firmware's hardware-error counter follows
    counts = []
    for mv in (1200, 1100):
        p = lv06_at(volts=mv / 1000.0)
        fw = Firmware(LV06, p, np.random.default_rng(0), 0.0, hw_ticket_diff=1.0)
        for k in range(1, 61):
            p.advance(1.0)
            fw.tick(float(k), 1.0)
        counts.append(fw.snapshot.hw_errors)
    assert counts[1] > 10 * max(counts[0], 1)


def test_overheating_raises_errors_and_a_dead_chip_stops_hashing() -> None:
    p = lv06_at(fan=20.0)
    cool_err = p.error_fraction
    p.set_ambient(75.0)
    p.advance(3000.0)
    assert p.t_die.max() > 100
    assert p.error_fraction > 10 * cool_err
    s9 = Physics(S9, "S9-A")
    h = s9.hashrate_hs
    s9.kill_chain(1)
    assert s9.hashrate_hs == pytest.approx(h * 2 / 3, rel=0.01)
    s9.kill_chips([0])
    assert s9.chip_hashrate_hs()[0] == 0.0


def test_same_serial_same_signature_different_serials_differ() -> None:
    a1 = chip_variation(S9, "S9-0001").vector()
    a2 = Physics(S9, "S9-0001", seed=99, start_warm=False).var.vector()  # the seed does not change identity
    b = chip_variation(S9, "S9-0002").vector()
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, b)
    # the signature shows in what the device reports: per-chain temperatures differ between serials
    ta = Physics(S9, "S9-0001").chain_die_max_c()
    tb = Physics(S9, "S9-0002").chain_die_max_c()
    assert np.abs(ta - tb).max() > 0.05


def test_deterministic_under_a_seed() -> None:
    def run(seed: int) -> list[float]:
        p = Physics(LV06, "LV06-D", seed=seed)
        fw = Firmware(LV06, p, np.random.default_rng(seed), 0.0)
        out = []
        for k in range(1, 40):
            p.advance(0.5)
            fw.tick(k * 0.5, 0.5)
            out += [fw.snapshot.hashrate_5s_hs, fw.snapshot.chip_temp_avg_c, float(fw.snapshot.fan_rpm[0])]
        return out

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_bad_settings_are_refused_with_a_clear_error() -> None:
    p = Physics(LV06, "x", start_warm=False)
    with pytest.raises(ValueError, match="frequency"):
        p.set_frequency(-1)
    with pytest.raises(ValueError, match="voltage"):
        p.set_voltage(5.0)
    with pytest.raises(ValueError, match="fan percent"):
        p.set_fan(120)
    with pytest.raises(ValueError, match="chip index"):
        p.kill_chips([3])
    with pytest.raises(ValueError, match="serial"):
        Physics(LV06, "")


def test_signature_is_stable_across_processes() -> None:
    code = ("from asicrc.drivers.sim.physics import chip_variation; from asicrc.drivers.sim.params import S9; "
            "print(chip_variation(S9, 'S9-0001').vector().tobytes().hex())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert bytes.fromhex(out.stdout.strip()) == chip_variation(S9, "S9-0001").vector().tobytes()
