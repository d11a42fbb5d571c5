"""Thermal plausibility of the chain simulators for any chip count, and the junction-temperature limit."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.drivers.sim import BM1387_CHAIN, Fault, SimBM1366Chain, SimBM1387Chain
from asicrc.drivers.sim.params import LV06, S9, SimParams, chain_spec
from asicrc.drivers.sim.physics import Physics
from asicrc.drivers.sim.serial_chain import SerialChainSim

# (class, window for the hottest die at the default clock with auto fan): the auto-fan targets are 75 / 60 degC
CHAINS = [(SimBM1387Chain, (65.0, 85.0)), (SimBM1366Chain, (50.0, 65.0))]


def at_default_clock(cls: type[SerialChainSim], chips: int) -> SerialChainSim:
    chain = cls(serial=f"thermal-{chips}", seed=1, chips=chips)
    chain.physics.set_frequency(chain.spec.freq_hz)  # what the host's PLL writes would set
    return chain


@pytest.mark.parametrize("chips", [1, 2, 4, 8])
@pytest.mark.parametrize(("cls", "window"), CHAINS)
def test_chains_reach_a_bounded_steady_state(cls: type[SerialChainSim], window: tuple[float, float],
                                             chips: int) -> None:
    p = at_default_clock(cls, chips).physics
    p.advance(1800.0)  # > 10 slowest time constants
    before = p.t_die.copy()
    p.advance(300.0)
    assert np.abs(p.t_die - before).max() < 0.5  # settled
    assert window[0] <= p.t_die.max() <= window[1]
    assert (p.t_board < p.t_die.min()).all() and (p.t_sink < p.t_board).all()
    assert p.shutdown_events == 0 and p.chip_state() == ["hashing"] * chips
    assert p.error_fraction < 0.01
    assert p.hashrate_hs == pytest.approx(p.expected_hashrate_hs, rel=0.01)
    # the static solution agrees with the integrated one
    settled = Physics(p.spec, p.serial, 1, start_warm=False)
    settled.set_frequency(p.spec.freq_hz)
    settled.settle()
    assert np.abs(settled.t_die - p.t_die).max() < 1.0


def test_chain_copper_scales_with_the_chip_count() -> None:
    base = BM1387_CHAIN
    big = chain_spec(base, 8)
    k = 8 / base.chips_per_chain
    assert big.chips_per_chain == 8
    assert big.c_sink == pytest.approx(base.c_sink * k) and big.c_board == pytest.approx(base.c_board * k)
    assert big.r_sink_air_full == pytest.approx(base.r_sink_air_full / k)
    assert big.r_board_sink == pytest.approx(base.r_board_sink / k)
    with pytest.raises(ValueError, match="chips"):
        chain_spec(base, 0)


@pytest.mark.parametrize("fault", [Fault.ambient(80.0), Fault.fan_death()])
@pytest.mark.parametrize("cls", [SimBM1387Chain, SimBM1366Chain])
def test_forced_overheat_trips_chips_at_the_limit(cls: type[SerialChainSim], fault: Fault) -> None:
    chain = at_default_clock(cls, 4)
    p = chain.physics
    limit = p.spec.t_shutdown_c
    p.set_fan(10.0)  # a failing cooler: fan barely turning
    chain.inject(fault)
    peak = 0.0
    tripped_seen = False
    for _ in range(3600):  # an hour, sampled every second
        p.advance(1.0)
        peak = max(peak, float(p.t_die.max()))
        tripped_seen |= bool(p.shutdown.any())
        assert not (p.shutdown & (p.chip_raw_hashrate_hs() > 0)).any()  # a tripped chip does not hash
        assert (p.chip_power_w()[p.shutdown] == 0).all()
    assert tripped_seen and p.shutdown_events >= 1
    assert limit - 5.0 < peak <= limit + 1e-9  # reached the limit, never beyond it
    assert (p.t_board < limit).all() and (p.t_sink < limit).all()
    assert "shutdown" in p.chip_state() or p.shutdown_events > 1  # tripped now, or cycling trip / restart
    # cooling restored: every chip restarts below the hysteresis and stays up
    p.set_ambient(25.0)
    p.fans_failed = False
    p.set_fan(None)
    p.advance(1800.0)
    assert p.chip_state() == ["hashing"] * 4 and p.t_die.max() < 90.0


def test_tripped_chip_is_reported_by_the_chain() -> None:
    chain = at_default_clock(SimBM1387Chain, 2)
    sub = chain.fanout.subscribe()
    chain.physics.t_die[1] = chain.spec.t_shutdown_c + 3.0  # e.g. a failed heatsink pad on chip 1
    chain.physics.advance(0.1)
    chain._report_shutdowns()
    assert chain.physics.chip_state() == ["hashing", "shutdown"]
    assert chain.physics.t_die[1] <= chain.spec.t_shutdown_c
    faults = [e.data for e in sub.get_nowait_all() if e.kind.value == "fault"]
    assert [(f["reason"], f["chip"]) for f in faults] == [("thermal-shutdown", 1)]


@pytest.mark.parametrize(("spec", "die", "board"), [(S9, (68.0, 85.0), (55.0, 65.0)),
                                                    (LV06, (55.0, 65.0), (40.0, 55.0))])
def test_device_models_sit_at_realistic_temperatures(spec: SimParams, die: tuple[float, float],
                                                     board: tuple[float, float]) -> None:
    p = Physics(spec, "REAL-1", 0)
    assert die[0] <= p.t_die.mean() and p.t_die.max() <= die[1]
    assert board[0] <= p.t_board.min() and p.t_board.max() <= board[1]
    assert p.shutdown_events == 0
