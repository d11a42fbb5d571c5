"""Too little enrolment data must give a clear refusal, never a confident wrong REJECT/ACCEPT.

Regression: with fewer than 3 enrolled devices the verifier used a Gaussian chi-square 99.9 % bound (~1.7) on a
distance whose scale came from 2 pooled degrees of freedom; a genuine device was REJECTed at distance ~5-36.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2

from asicrc.daemon.cli import main
from asicrc.reservoir.puf.challenge import default_challenge
from asicrc.reservoir.puf.match import distance, pooled_within_sd
from asicrc.reservoir.puf.signature import extract_signature
from asicrc.reservoir.puf.simsource import run_challenge
from asicrc.reservoir.puf.store import Enrolment
from asicrc.reservoir.puf.verify import Verifier

STEP = "10"


def _enrolment(serial: str, sessions: int) -> Enrolment:
    ch = default_challenge("lv06", step_s=10)
    sigs = [extract_signature(run_challenge(serial, ch, session_seed=s)) for s in range(1, sessions + 1)]
    return Enrolment(serial, "lv06", serial, ch, sigs, [25.0] * sessions)


def test_two_enrolled_devices_refuse_instead_of_rejecting_the_genuine_device(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path)
    for serial in ("LV-A", "LV-B"):
        assert main(["puf", "enrol", "--serial", serial, "--store", store, "--step-s", STEP]) == 0
    capsys.readouterr()
    # the old chi-square fallback printed "REJECT LV-A" here (exit 3): a confident wrong answer
    assert main(["puf", "verify", "--serial", "LV-A", "--store", store, "--step-s", STEP]) == 1
    out, err = capsys.readouterr()
    assert "ACCEPT" not in out and "REJECT" not in out
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "2 enrolled device(s)" in err and "need >= 3" in err and "--threshold" in err
    # an explicit threshold is the user's decision, and is labelled as such
    assert main(["puf", "verify", "--serial", "LV-A", "--store", store, "--step-s", STEP, "--threshold", "10"]) == 0
    assert "ACCEPT LV-A" in capsys.readouterr().out


def test_refusal_names_devices_with_too_few_sessions() -> None:
    enrolments = [_enrolment("LV-A", 2), _enrolment("LV-B", 2), _enrolment("LV-C", 1)]
    with pytest.raises(ValueError, match=r"2 enrolled device\(s\) with >= 2 sessions \(LV-C with fewer"):
        Verifier(enrolments)
    with pytest.raises(ValueError, match="need >= 3"):
        Verifier(enrolments[:1])
    assert Verifier(enrolments, threshold=5.0).threshold_source == "given"


def test_three_devices_keep_the_eer_calibration() -> None:
    v = Verifier([_enrolment(s, 2) for s in ("LV-A", "LV-B", "LV-C")])
    assert v.threshold_source == "EER threshold on 3 enrolled devices" and v.threshold > 0


def test_why_no_gaussian_bound_with_two_devices() -> None:
    """The removed bound, on ideal Gaussian data: with scales from 2 devices x 2 sessions (2 dof) a genuine session
    exceeds the nominal 99.9 % chi-square bound far more often than 0.1 % (the z-scores are t with 2 dof)."""
    rng = np.random.default_rng(0)
    p, trials, over = 28, 400, 0
    bound = np.sqrt(chi2.ppf(0.999, p) / p * 1.5)
    for _ in range(trials):
        means = rng.normal(0, 10, size=(2, p))
        devices = [rng.normal(mu, 1.0, size=(2, p)) for mu in means]
        fresh = rng.normal(means[0], 1.0)  # a new genuine session of device 0
        over += distance(fresh, devices[0].mean(axis=0), pooled_within_sd(devices)) > bound
    assert over / trials > 0.2, over / trials
