"""Hashrate estimate from shares: exact Poisson interval values and its coverage on simulated share streams."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.drivers.stratum.hashrate import (
    HASHES_PER_DIFF1,
    hashrate_estimate,
    hashrate_from_difficulty_sum,
    poisson_interval,
)


def test_garwood_interval_values() -> None:
    low, high = poisson_interval(0)
    assert low == 0.0 and high == pytest.approx(3.6889, abs=1e-3)
    low, high = poisson_interval(10)
    assert low == pytest.approx(4.7954, abs=1e-3) and high == pytest.approx(18.3904, abs=1e-3)


def test_estimate_scales_with_difficulty_and_time() -> None:
    est = hashrate_estimate(100, 50.0, 4.0)
    assert est.rate_hs == pytest.approx(100 * 4 * HASHES_PER_DIFF1 / 50)
    assert est.low_hs < est.rate_hs < est.high_hs
    same = hashrate_from_difficulty_sum(400.0, 100, 50.0)
    assert same.rate_hs == pytest.approx(est.rate_hs) and same.high_hs == pytest.approx(est.high_hs)
    assert hashrate_from_difficulty_sum(0.0, 0, 1.0).rate_hs == 0.0
    for bad in [(-1, 1.0, 1.0), (1, 0.0, 1.0), (1, 1.0, 0.0)]:
        with pytest.raises(ValueError):
            hashrate_estimate(*bad)


def test_interval_covers_true_rate_95_percent() -> None:
    rng = np.random.default_rng(7)
    true_hs, diff, duration = 13.5e12, 1024.0, 60.0
    mean_shares = true_hs * duration / (diff * HASHES_PER_DIFF1)  # ~184 shares
    trials = 2000
    counts = rng.poisson(mean_shares, trials)
    covered = 0
    for n in counts:
        est = hashrate_estimate(int(n), duration, diff)
        covered += est.low_hs <= true_hs <= est.high_hs
    coverage = covered / trials
    assert 0.93 <= coverage <= 0.975  # exact intervals are slightly conservative
