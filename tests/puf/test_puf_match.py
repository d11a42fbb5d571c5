"""Distance and error-rate statistics."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.reservoir.puf.match import bootstrap_eer_ci, eer, error_rates, pooled_within_sd, wilson


def test_eer_on_known_cases() -> None:
    assert eer([1, 2, 3], [4, 5, 6]) == (0.0, 3.5)
    assert eer([1, 2, 3, 4], [3, 4, 5, 6]) == (0.25, 3.0)
    assert eer([1, 1], [1, 1])[0] == 0.5
    with pytest.raises(ValueError, match="at least one genuine"):
        eer([], [1.0])


def test_eer_of_gaussian_scores_matches_theory() -> None:
    rng = np.random.default_rng(0)
    g, i = rng.normal(0, 1, 20000), rng.normal(2, 1, 20000)
    # equal variances: EER = Phi(-d/2) = Phi(-1) = 0.1587
    e, thr = eer(g, i)
    assert e == pytest.approx(0.1587, abs=0.01)
    assert thr == pytest.approx(1.0, abs=0.05)
    rates = error_rates(g, i, thr)
    assert rates.far == pytest.approx(rates.frr, abs=0.01)
    assert rates.far_ci[0] <= rates.far <= rates.far_ci[1]


def test_wilson_interval() -> None:
    lo, hi = wilson(0, 20)
    assert lo == 0.0 and 0.15 < hi < 0.17  # the rule of three's neighbour
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.404, abs=0.002) and hi == pytest.approx(0.596, abs=0.002)


def test_pooled_within_sd_recovers_the_noise_level() -> None:
    rng = np.random.default_rng(1)
    devices = [rng.normal(loc, 0.5, size=(4, 3)) for loc in rng.normal(0, 10, size=(30, 3))]
    sd = pooled_within_sd(devices)
    assert np.allclose(sd, 0.5, atol=0.08)
    with pytest.raises(ValueError, match=">= 2 sessions"):
        pooled_within_sd([np.zeros((1, 3))])


def test_device_bootstrap_interval_covers_the_point_estimate() -> None:
    rng = np.random.default_rng(2)
    gen = {f"d{k}": list(rng.normal(0, 1, 3)) for k in range(20)}
    imp = {f"d{k}": list(rng.normal(2, 1, 19)) for k in range(20)}
    e, _ = eer([x for v in gen.values() for x in v], [x for v in imp.values() for x in v])
    lo, hi = bootstrap_eer_ci(gen, imp, rng, resamples=200)
    assert lo <= e <= hi and hi - lo < 0.3
