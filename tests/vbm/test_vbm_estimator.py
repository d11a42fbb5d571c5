"""The Poisson-CI hashrate estimator and the A/B ratio interval, on synthetic Poisson share streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from asicrc.drivers.stratum.hashrate import HASHES_PER_DIFF1, hashrate_from_difficulty_sum
from asicrc.drivers.stratum.vbm_cli import rate_ratio_interval


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


def test_ratio_interval_covers_the_true_ratio() -> None:
    rng = np.random.default_rng(7)
    trials, covered = 2000, 0
    for _ in range(trials):
        t_on, t_off, r_on, r_off = 150.0, 150.0, 2.4, 2.0  # true ratio 1.2
        n_on, n_off = rng.poisson(r_on * t_on), rng.poisson(r_off * t_off)
        _, lo, hi = rate_ratio_interval(int(n_on), t_on, int(n_off), t_off)
        covered += lo <= 1.2 <= hi
    assert 0.93 <= covered / trials <= 0.985


def test_ratio_interval_known_values() -> None:
    point, lo, hi = rate_ratio_interval(100, 10.0, 100, 10.0)
    assert point == 1.0 and lo < 1.0 < hi and hi / lo == pytest.approx(1.0 / lo / lo, rel=1e-9)
    point, lo, hi = rate_ratio_interval(200, 10.0, 100, 20.0)  # rates 20 vs 5
    assert point == pytest.approx(4.0) and lo > 3.0 and hi < 5.3
    assert rate_ratio_interval(0, 1.0, 0, 1.0)[1:] == (0.0, math.inf)
