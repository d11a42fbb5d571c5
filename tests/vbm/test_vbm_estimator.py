"""The Poisson-CI hashrate estimator and the A/B ratio interval, on synthetic Poisson share streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asicrc.drivers.stratum.hashrate import HASHES_PER_DIFF1, hashrate_from_difficulty_sum
from asicrc.reservoir.vbm.ab import rate_ratio_interval


def share_stream(rng: np.random.Generator, hashrate_hs: float, difficulty: float, duration_s: float) -> int:
    """Arrival times of a Poisson share process (exponential gaps), counted in [0, duration)."""
    rate = hashrate_hs / (difficulty * HASHES_PER_DIFF1)
    expected = rate * duration_s
    gaps = rng.exponential(1.0 / rate, size=int(expected + 10 * math.sqrt(expected) + 20))
    times = np.cumsum(gaps)
    assert times[-1] > duration_s  # the stream outlasts the window
    return int(np.searchsorted(times, duration_s))


@pytest.mark.parametrize(("hashrate_hs", "difficulty", "duration_s"),
                         [(500e9, 64.0, 60.0), (13.5e12, 1024.0, 30.0), (2e4, 2.33e-6, 300.0)])
def test_95ci_covers_the_true_hashrate_93_to_97_percent(hashrate_hs: float, difficulty: float,
                                                        duration_s: float) -> None:
    rng = np.random.default_rng(20261129)
    trials = 2000
    covered = 0
    for _ in range(trials):
        n = share_stream(rng, hashrate_hs, difficulty, duration_s)
        est = hashrate_from_difficulty_sum(n * difficulty, n, duration_s)
        covered += est.low_hs <= hashrate_hs <= est.high_hs
    coverage = covered / trials
    assert 0.93 <= coverage <= 0.97, f"coverage {coverage:.3f}"


@pytest.mark.parametrize(("t_on", "t_off"), [(150.0, 150.0), (100.0, 250.0)])
def test_ratio_interval_covers_the_true_ratio(t_on: float, t_off: float) -> None:
    """93-97 % like the hashrate interval; unequal exposures catch a swapped t_on/t_off."""
    rng = np.random.default_rng(7)
    trials, covered = 2000, 0
    r_on, r_off = 2.4, 2.0  # true ratio 1.2
    for _ in range(trials):
        n_on, n_off = rng.poisson(r_on * t_on), rng.poisson(r_off * t_off)
        _, lo, hi = rate_ratio_interval(int(n_on), t_on, int(n_off), t_off)
        covered += lo <= 1.2 <= hi
    assert 0.93 <= covered / trials <= 0.97


def test_garwood_interval_known_values() -> None:
    """Exact Poisson (Garwood) limits from the standard tables: a normal approximation or a chi-square with the
    wrong degrees of freedom fails these even where coverage over many seeds still looks fine."""
    from asicrc.drivers.stratum.hashrate import hashrate_estimate, poisson_interval

    assert poisson_interval(0) == pytest.approx((0.0, 3.6889), abs=1e-4)
    assert poisson_interval(1) == pytest.approx((0.0253, 5.5716), abs=1e-4)
    assert poisson_interval(10) == pytest.approx((4.7954, 18.3904), abs=1e-4)
    assert poisson_interval(100) == pytest.approx((81.364, 121.627), abs=1e-3)
    est = hashrate_estimate(10, 2.0, 4.0)
    assert est.rate_hs == pytest.approx(10 * 4.0 * HASHES_PER_DIFF1 / 2.0)
    assert (est.low_hs, est.high_hs) == pytest.approx((4.7954 * 4.0 * HASHES_PER_DIFF1 / 2.0,
                                                       18.3904 * 4.0 * HASHES_PER_DIFF1 / 2.0), rel=1e-4)


def test_ratio_interval_known_values() -> None:
    point, lo, hi = rate_ratio_interval(100, 10.0, 100, 10.0)
    assert point == 1.0 and lo < 1.0 < hi and hi / lo == pytest.approx(1.0 / lo / lo, rel=1e-9)
    point, lo, hi = rate_ratio_interval(200, 10.0, 100, 20.0)  # rates 20 vs 5
    assert point == pytest.approx(4.0) and lo > 3.0 and hi < 5.3
    assert rate_ratio_interval(0, 1.0, 0, 1.0)[1:] == (0.0, math.inf)
