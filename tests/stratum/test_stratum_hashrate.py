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


def test_garwood_bounds_match_scipy_and_direct_poisson_sums() -> None:
    """The pure-Python gamma quantiles against scipy's chi2 (to 1e-9 where scipy is accurate) and, for counts
    where scipy's asymptotic incomplete gamma drifts (~3 % at 1e7), against a direct Poisson tail sum."""
    import math

    from scipy.stats import chi2

    from asicrc.drivers.stratum.hashrate import regularized_lower_gamma

    for confidence in (0.5, 0.95, 0.99, 0.999999):
        alpha = 1 - confidence
        for k in [*range(0, 60), 100, 999, 12_345, 100_000]:
            low, high = poisson_interval(k, confidence)
            ref_low = 0.0 if k == 0 else chi2.ppf(alpha / 2, 2 * k) / 2
            ref_high = chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
            assert high == pytest.approx(ref_high, rel=1e-9), (k, confidence)
            assert low == pytest.approx(ref_low, rel=1e-9, abs=1e-300), (k, confidence)

    def poisson_tail(a: int, x: float) -> float:  # P(X >= a) for X ~ Poisson(x) = P(a, x), summed in log space
        total, k = 0.0, a
        log_pmf = k * math.log(x) - x - math.lgamma(k + 1)
        while True:
            term = math.exp(log_pmf)
            total += term
            if term < total * 1e-18:
                return total
            k += 1
            log_pmf += math.log(x) - math.log(k)

    for a, x in ((10_000, 9_510.0), (1_000_000, 995_100.0), (10_000_000, 9_984_538.9)):
        assert regularized_lower_gamma(a, x) == pytest.approx(poisson_tail(a, x), rel=1e-7)


def test_interval_needs_no_scipy() -> None:
    """The daemon computes this interval per device on every refresh: importing scipy.stats for it cost ~60 MB
    of RSS and a ~1 s event-loop stall, so the module must not reach for scipy at all."""
    import subprocess
    import sys

    code = ("import sys; from asicrc.drivers.stratum.hashrate import poisson_interval; poisson_interval(7); "
            "poisson_interval(123456, 0.99); print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
