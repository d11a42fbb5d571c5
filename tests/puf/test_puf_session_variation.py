"""Between-session variation: ageing, drift, remounts and fan replacement change the device as documented, and
the identity features respond the way the physics says (the fan feature does not survive a fan swap)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from asicrc.drivers.sim import LV06, S9, Physics
from asicrc.reservoir.puf.challenge import default_challenge
from asicrc.reservoir.puf.evaluate import CONDITIONS, FAN_FREE, EvalConfig, evaluate, simulate
from asicrc.reservoir.puf.signature import SIGNATURES, extract_signature
from asicrc.reservoir.puf.simsource import run_challenge
from asicrc.reservoir.puf.variation import (
    DEFAULT_VARIATION,
    SessionState,
    apply_session_state,
    session_spec,
)


def _phys(state: SessionState, serial: str = "S9-X", spec: Any = S9) -> Physics:
    p = Physics(session_spec(spec, serial, state), serial, seed=1, start_warm=False)
    apply_session_state(p, state)
    return p


def test_factory_state_changes_nothing_and_events_are_deterministic() -> None:
    base = Physics(S9, "S9-X", seed=1, start_warm=False)
    factory = _phys(SessionState())
    for field in ("v_th_v", "c_dyn_f", "i_leak_a", "r_die_board", "fan_gain", "sensor_offset_c"):
        np.testing.assert_array_equal(getattr(base.var, field), getattr(factory.var, field))
    field_state = SessionState(age_days=180, remounts=1, fans_replaced=1)
    a, b = _phys(field_state), _phys(field_state)
    np.testing.assert_array_equal(a.var.v_th_v, b.var.v_th_v)
    assert a.spec.r_board_sink == b.spec.r_board_sink
    # a different device has a different history
    assert not np.array_equal(a.var.fan_gain, _phys(field_state, "S9-Y").var.fan_gain)


def test_ageing_raises_vth_by_the_bti_power_law_and_cuts_leakage() -> None:
    base = _phys(SessionState())
    year = _phys(SessionState(age_days=365.25))
    dv = year.var.v_th_v - base.var.v_th_v
    m = DEFAULT_VARIATION
    assert np.all(dv > 0)
    # per-chip lognormal rates around A: the median shift over 189 chips is A within a few %
    assert np.median(dv) == pytest.approx(m.bti_v_at_1y, rel=0.1)
    np.testing.assert_allclose(year.var.i_leak_a, base.var.i_leak_a * np.exp(-dv / m.subthreshold_n_vt_v))
    later = _phys(SessionState(age_days=4 * 365.25))
    np.testing.assert_allclose(later.var.v_th_v - base.var.v_th_v, dv * 4 ** m.bti_time_exponent)
    assert np.all(later.var.fan_gain < base.var.fan_gain)  # worn fans spin slower
    np.testing.assert_array_equal(year.var.c_dyn_f, base.var.c_dyn_f)  # capacitance does not age here


def test_remount_and_fan_swap_touch_only_their_parts() -> None:
    base = _phys(SessionState())
    remount = _phys(SessionState(remounts=1))
    assert remount.spec.r_board_sink != base.spec.r_board_sink
    assert not np.array_equal(remount.var.r_die_board, base.var.r_die_board)
    np.testing.assert_array_equal(remount.var.v_th_v, base.var.v_th_v)
    np.testing.assert_array_equal(remount.var.fan_gain, base.var.fan_gain)
    swap = _phys(SessionState(fans_replaced=1))
    assert not np.array_equal(swap.var.fan_gain, base.var.fan_gain)
    np.testing.assert_array_equal(swap.var.v_th_v, base.var.v_th_v)
    assert swap.spec.r_board_sink == base.spec.r_board_sink
    with pytest.raises(ValueError, match="age must be"):
        SessionState(age_days=-1).validate()


def test_fan_swap_changes_the_measured_fan_rpm_and_not_the_nonce_features() -> None:
    ch = default_challenge("lv06", step_s=15)
    before = extract_signature(run_challenge("LV-F", ch, 1))
    after = extract_signature(run_challenge("LV-F", ch, 1, state=SessionState(fans_replaced=1)))
    fan, nonce = before.mask("fan"), before.mask("nonce")
    assert abs(after.values[fan][0] / before.values[fan][0] - 1) > 1e-3  # a new fan's top speed differs
    np.testing.assert_allclose(after.values[nonce], before.values[nonce], atol=0.5)  # same silicon


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    cfg = EvalConfig(model="lv06", devices=12, calibration_devices=4, step_s=15, bootstrap=100, seed=3)
    return evaluate(cfg, sessions=simulate(dataclasses.replace(cfg)))


def test_per_group_eer_with_cis_in_every_condition(report: dict[str, Any]) -> None:
    assert set(report["conditions"]) == set(CONDITIONS)
    for name in ("all", "nonce", "power", "fan", "timing", *SIGNATURES):
        g = report["groups"][name]
        for cond in CONDITIONS:
            c = g[cond]
            assert c["eer_ci"][0] <= c["eer"] <= c["eer_ci"][1]
    fan = report["groups"]["fan"]
    # positive control of the variation: the fan identifies a device until its fan is replaced ...
    assert fan["same"]["eer"] < 0.15 and fan["remount"]["eer"] < 0.15
    assert fan["fan_swap"]["eer"] > 0.3 and fan["field"]["eer"] > 0.3
    # ... and share timing never does (the paper's "timing signature")
    assert report["groups"]["timing"]["same"]["eer"] > 0.25


def test_headline_is_a_fan_free_signature_in_the_field(report: dict[str, Any]) -> None:
    h = report["headline"]
    assert h["signature"] in FAN_FREE and "fan" not in h["members"] and h["condition"] == "field"
    assert h["eer"] == report["groups"][h["signature"]]["field"]["eer"]
    chosen = report["groups"][h["signature"]]["calibration_eer_fan_swap_field"]
    assert all(chosen <= report["groups"][g]["calibration_eer_fan_swap_field"] for g in FAN_FREE)


def test_spec_constants_are_untouched_by_sessions() -> None:
    # sessions copy the spec; the shared model constants never change
    r_before = LV06.r_board_sink
    run_challenge("LV-R", default_challenge("lv06", step_s=10), 1, state=SessionState(remounts=2))
    assert LV06.r_board_sink == r_before
