"""Hashrate from accepted shares, with an exact Poisson confidence interval.

A share at difficulty D stands for D·2^32 hashes on average, and shares arrive as a Poisson process, so the
uncertainty of a rate estimated from n shares is the Poisson (Garwood) interval on n, scaled by D·2^32/T.
Pure functions: usable by the server, the reservoir and reports alike.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

HASHES_PER_DIFF1 = 2**32


@dataclass(frozen=True, slots=True)
class HashrateEstimate:
    rate_hs: float  # point estimate, hashes per second
    low_hs: float  # lower confidence bound
    high_hs: float  # upper confidence bound
    shares: int
    duration_s: float


def poisson_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval for the mean of a Poisson count.

    The bounds are gamma quantiles (chi2.ppf(q, 2k)/2 = Gamma(k).ppf(q)), computed here in pure Python
    (tests/stratum/test_stratum_hashrate.py compares them with scipy to 1e-9): importing scipy.stats for two
    numbers cost the daemon ~60 MB of RSS and a ~1 s event-loop stall on first use.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return _poisson_interval(int(count), float(confidence))


@functools.lru_cache(maxsize=4096)  # counts repeat from window to window; each bound is a few dozen series sums
def _poisson_interval(count: int, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    low = 0.0 if count == 0 else gamma_quantile(alpha / 2, count)
    return low, gamma_quantile(1 - alpha / 2, count + 1)


def regularized_lower_gamma(a: float, x: float) -> float:
    """P(a, x) = γ(a, x) / Γ(a): a power series below x = a + 1, Lentz's continued fraction for Q above it."""
    if x <= 0:
        return 0.0
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = 0
        while term > total * 1e-17:
            n += 1
            term *= x / (a + n)
            total += term
        return min(1.0, math.exp(log_prefactor) * total)
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = d if abs(d) > tiny else tiny
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16 or i > 100_000:
            break
    return max(0.0, 1.0 - math.exp(log_prefactor) * h)


def gamma_quantile(p: float, a: float) -> float:
    """x with P(a, x) = p (a > 0, 0 < p < 1): Newton from the Wilson-Hilferty guess, kept inside a bisection
    bracket so it cannot diverge."""
    if not 0 < p < 1 or not a > 0:
        raise ValueError(f"gamma_quantile needs 0 < p < 1 and a > 0, got p={p!r}, a={a!r}")
    z = statistics.NormalDist().inv_cdf(p)
    guess = a * (1 - 1 / (9 * a) + z * math.sqrt(1 / (9 * a))) ** 3
    x = guess if guess > 0 else a * p ** (1 / a)  # small a: P(a, x) ~ x^a / (a Γ(a)) near 0
    lo, hi = 0.0, math.inf
    for _ in range(200):
        f = regularized_lower_gamma(a, x) - p
        if f < 0:
            lo = x
        else:
            hi = x
        density = math.exp((a - 1) * math.log(x) - x - math.lgamma(a)) if x > 0 else 0.0
        step = f / density if density > 0 else math.inf
        nxt = x - step
        if not lo < nxt < hi:  # Newton left the bracket: bisect (or grow the bracket upward)
            nxt = (lo + hi) / 2 if hi < math.inf else max(2 * x, x + 1)
        if abs(nxt - x) <= 1e-13 * max(x, 1e-300):
            return nxt
        x = nxt
    return x


def hashrate_estimate(
    shares: int, duration_s: float, difficulty: float, confidence: float = 0.95
) -> HashrateEstimate:
    """Hashrate from `shares` accepted shares at `difficulty` over `duration_s` seconds.

    With varying difficulty pass the share count and the mean difficulty of the accepted shares
    (see :func:`hashrate_from_difficulty_sum`).
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
    if not difficulty > 0:
        raise ValueError(f"difficulty must be > 0, got {difficulty!r}")
    scale = difficulty * HASHES_PER_DIFF1 / duration_s
    low, high = poisson_interval(int(shares), confidence)
    return HashrateEstimate(shares * scale, low * scale, high * scale, int(shares), float(duration_s))


def hashrate_from_difficulty_sum(
    sum_difficulty: float, shares: int, duration_s: float, confidence: float = 0.95
) -> HashrateEstimate:
    """Hashrate from the summed difficulty of `shares` accepted shares (mean difficulty sets the scale)."""
    if shares <= 0:
        if not duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s!r}")
        return HashrateEstimate(0.0, 0.0, float("inf"), 0, float(duration_s))
    return hashrate_estimate(shares, duration_s, sum_difficulty / shares, confidence)
