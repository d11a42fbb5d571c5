"""Challenge schedules (envelope-checked) and the in-process simulated source."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from asicrc.drivers.device import EnvelopeViolation
from asicrc.reservoir.puf.challenge import Challenge, Step, default_challenge, validate_challenge
from asicrc.reservoir.puf.match import distance
from asicrc.reservoir.puf.signature import extract_signature
from asicrc.reservoir.puf.simsource import run_challenge


@pytest.mark.parametrize("model", ["lv06", "s9", "lbbox"])
def test_default_challenges_pass_the_envelope_and_roundtrip(model: str) -> None:
    ch = default_challenge(model, step_s=10)
    validate_challenge(ch)
    back = Challenge.from_dict(ch.to_dict())
    assert back == ch and back.digest == ch.digest
    assert default_challenge(model, step_s=11).digest != ch.digest


def test_envelope_refuses_out_of_range_and_oversized_steps() -> None:
    ch = default_challenge("lv06", step_s=10)
    too_high = dataclasses.replace(ch, steps=(*ch.steps, Step(600.0, 10, 1, 64)))
    with pytest.raises(EnvelopeViolation, match="outside"):
        validate_challenge(too_high)
    big_step = dataclasses.replace(ch, steps=(Step(450.0, 10, 1, 64), Step(560.0, 10, 1, 64)))
    with pytest.raises(EnvelopeViolation, match="exceeds max step"):
        validate_challenge(big_step)
    too_fast = dataclasses.replace(ch, steps=(Step(485.0, 5, 1, 64), Step(525.0, 5, 1, 64)))
    with pytest.raises(EnvelopeViolation, match="settle time"):
        validate_challenge(too_fast)


def test_unknown_model_and_malformed_challenge_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="no PUF challenge for model"):
        default_challenge("antminer-s21")
    with pytest.raises(ValueError, match="malformed challenge"):
        Challenge.from_dict({"model": "lv06"})


def test_runtime_envelope_refuses_an_increase_on_a_hot_device() -> None:
    # at 40 C ambient the LV06 die passes its 65 C throttle, so the first frequency increase must be refused
    with pytest.raises(EnvelopeViolation, match="throttle"):
        run_challenge("LV-HOT", default_challenge("lv06", step_s=10), session_seed=1, ambient_c=40.0)
    # hotter still, the die reaches the thermal stop: the challenge is aborted, not continued
    with pytest.raises(EnvelopeViolation, match="thermal stop"):
        run_challenge("LV-HOT", default_challenge("lv06", step_s=10), session_seed=1, ambient_c=50.0)


def test_sessions_are_reproducible_and_identity_lives_in_the_serial() -> None:
    ch = default_challenge("lv06", step_s=20)
    a1 = run_challenge("LV-A", ch, session_seed=1)
    a1_again = run_challenge("LV-A", ch, session_seed=1)
    np.testing.assert_array_equal(a1.chip_nonces, a1_again.chip_nonces)
    np.testing.assert_array_equal(a1.power_w, a1_again.power_w)
    sigs = {name: [extract_signature(run_challenge(name, ch, session_seed=s)) for s in (1, 2, 3)]
            for name in ("LV-A", "LV-B")}
    a, b = np.array([s.values for s in sigs["LV-A"]]), np.array([s.values for s in sigs["LV-B"]])
    scale = np.maximum(np.concatenate([a - a.mean(0), b - b.mean(0)]).std(axis=0), 1e-6)
    within = distance(a[0], a[1:].mean(0), scale)
    between = distance(a[0], b.mean(0), scale)
    assert between > 3 * within
    assert sigs["LV-A"][0].challenge_digest == ch.digest
    assert len(set(sigs["LV-A"][0].groups)) == 6
