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


def test_device_bootstrap_resamples_templates_not_just_pairs() -> None:
    """Impostor distances clustered by *template* device (one device every probe nearly matches): pairs are
    dependent, so the FAR interval must be far wider than a binomial interval over the 380 pairs, and wider than a
    bootstrap resampling only the probe side (which sees the same mixture of templates in every resample)."""
    from asicrc.reservoir.puf.match import device_bootstrap

    rng = np.random.default_rng(5)
    devs = [f"d{k}" for k in range(20)]
    attract = {d: (0.5 if k < 3 else 4.0) for k, d in enumerate(devs)}  # 3 templates accept almost anyone
    gen = {d: [float(rng.normal(1.0, 0.1))] for d in devs}
    pairs = {(p, t): [float(rng.normal(attract[t], 0.1))] for p in devs for t in devs if p != t}
    thr = 1.5
    imp_flat = [v for vals in pairs.values() for v in vals]
    rates = error_rates([v[0] for v in gen.values()], imp_flat, thr)
    assert rates.far == pytest.approx(3 / 20, abs=0.01)
    boot = device_bootstrap(gen, pairs, np.random.default_rng(6), threshold=thr, resamples=400)
    wilson_width = rates.far_ci[1] - rates.far_ci[0]
    boot_width = boot.far_ci[1] - boot.far_ci[0]
    assert boot.far_ci[0] <= rates.far <= boot.far_ci[1]
    assert boot_width > 2 * wilson_width, (boot.far_ci, rates.far_ci)
    by_probe = {p: [v for (q, _), vals in pairs.items() if q == p for v in vals] for p in devs}
    lo, hi = bootstrap_eer_ci(gen, by_probe, np.random.default_rng(6), resamples=400)
    assert boot.eer_ci[1] - boot.eer_ci[0] > 2 * (hi - lo)
    # no genuine distance is over the threshold: not [0, 0] but the exact bound for 0 failures in 20 devices
    assert boot.frr_ci == pytest.approx((0.0, 1 - 0.025 ** (1 / 20)))


def test_device_bootstrap_matches_eer_without_resampling_noise() -> None:
    """With clearly separated, device-independent scores the interval is tight around the point EER."""
    from asicrc.reservoir.puf.match import device_bootstrap

    rng = np.random.default_rng(8)
    devs = [f"d{k}" for k in range(15)]
    gen = {d: list(rng.normal(0, 1, 4)) for d in devs}
    pairs = {(p, t): list(rng.normal(2, 1, 4)) for p in devs for t in devs if p != t}
    e, _ = eer([x for v in gen.values() for x in v], [x for v in pairs.values() for x in v])
    boot = device_bootstrap(gen, pairs, rng, resamples=300)
    assert boot.eer_ci[0] <= e <= boot.eer_ci[1] and boot.eer_ci[1] - boot.eer_ci[0] < 0.2
    assert np.isnan(boot.far_ci[0])  # no threshold given
    with pytest.raises(ValueError, match="two different devices"):
        device_bootstrap(gen, {("d0", "d0"): [1.0]}, rng)
