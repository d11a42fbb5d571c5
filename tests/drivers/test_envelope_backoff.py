"""SafetyEnvelope.check decisions and the capped, jittered backoff."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asicrc.drivers.backoff import Backoff
from asicrc.drivers.clock import Clock
from asicrc.drivers.device import EnvelopeViolation
from asicrc.drivers.models import ENVELOPES, envelope_for

ENV = envelope_for("lv06")


def check(value: float, current: float | None = 485.0, since: float | None = None, temp: float | None = 50.0,
          setting: str = "frequency_mhz") -> None:
    ENV.check("dev", setting, value, current=current, since_last_change_s=since, temperature_c=temp)


def test_inside_envelope_passes() -> None:
    check(500.0)
    check(450.0, since=60.0)
    check(1250.0, current=1200.0, setting="core_voltage_mv")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"value": 900.0}, "outside [400, 575]"),
        ({"value": 300.0}, "outside [400, 575]"),
        ({"value": math.nan}, "not a finite number"),
        ({"value": 575.0}, "exceeds max step 50"),
        ({"value": 500.0, "since": 2.0}, "settle time is 10 s"),
        ({"value": 500.0, "temp": 66.0}, "throttle 65"),
        ({"value": 500.0, "temp": 80.0}, "thermal stop 72"),
        ({"value": 500.0, "current": None}, "present value unknown"),
    ],
)
def test_violations_name_the_reason(kwargs: dict[str, float], needle: str) -> None:
    with pytest.raises(EnvelopeViolation) as info:
        check(**kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)
    assert info.value.setting == "frequency_mhz"
    assert isinstance(info.value, ValueError)


def test_decrease_allowed_when_hot_and_fan_not_heating() -> None:
    check(450.0, temp=70.0)  # going down is how we cool
    ENV.check("dev", "fan_percent", 100.0, current=40.0, since_last_change_s=None, temperature_c=90.0)


def test_unknown_setting_is_clear() -> None:
    with pytest.raises(KeyError, match="unknown setting 'turbo'"):
        ENV.check("dev", "turbo", 1.0, current=None, since_last_change_s=None, temperature_c=None)


def test_every_model_has_sane_envelope() -> None:
    for model, env in ENVELOPES.items():
        assert env.thermal_throttle_c < env.thermal_stop_c, model
        r = env.frequency_mhz
        assert 0 < r.low < r.high and r.max_step > 0, model


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(initial_s=0.5, cap_s=8.0, factor=2.0, jitter=0.0)
    assert [b.next_delay() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    b.reset()
    assert b.next_delay() == 0.5
    for _ in range(10_000):  # days away: no overflow
        b.next_delay()
    assert b.next_delay() == 8.0


def test_backoff_jitter_spreads_within_bounds() -> None:
    b = Backoff(initial_s=1.0, cap_s=1.0, jitter=0.5, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in delays)
    assert max(delays) - min(delays) > 0.3


@pytest.mark.parametrize("kwargs", [{"initial_s": 0}, {"cap_s": 0.1}, {"factor": 0.5}, {"jitter": 2}])
def test_backoff_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)


async def test_backoff_sleep_uses_clock() -> None:
    b = Backoff(initial_s=1.0, cap_s=1.0, jitter=0.0)
    assert await b.sleep(Clock(speed=1000.0)) == 1.0

finite = st.floats(-1e4, 1e4, allow_nan=False)


@given(model=st.sampled_from(sorted(ENVELOPES)), setting=st.sampled_from(["frequency_mhz", "core_voltage_mv",
                                                                          "fan_percent"]),
       value=st.floats(allow_nan=True, allow_infinity=True), current=st.none() | finite,
       since=st.none() | st.floats(0, 1e3), temp=st.none() | st.floats(0, 150))
def test_whatever_passes_the_check_is_safe(model: str, setting: str, value: float, current: float | None,
                                           since: float | None, temp: float | None) -> None:
    env = ENVELOPES[model]
    r = env.range_for(setting)
    try:
        env.check("d", setting, value, current=current, since_last_change_s=since, temperature_c=temp)
    except EnvelopeViolation as exc:
        assert exc.reason  # every refusal says why
        return
    assert r.low <= value <= r.high
    if current is not None:
        assert abs(value - current) <= r.max_step
        if since is not None and value != current:
            assert since >= r.settle_s
        heating = setting in ("frequency_mhz", "core_voltage_mv") and value > current
    else:
        assert value <= r.low + r.max_step
        heating = setting in ("frequency_mhz", "core_voltage_mv")
    if heating and temp is not None:
        assert temp < env.thermal_throttle_c
