"""Hashrate from accepted shares, with an exact Poisson confidence interval.

A share at difficulty D stands for D·2^32 hashes on average, and shares arrive as a Poisson process, so the
uncertainty of a rate estimated from n shares is the Poisson (Garwood) interval on n, scaled by D·2^32/T.
Pure functions: usable by the server, the reservoir and reports alike.
"""

from __future__ import annotations

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
    """Exact (Garwood) two-sided interval for the mean of a Poisson count."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    from scipy.stats import chi2  # imported on first use: keeps `asicrc stratum serve` start-up fast

    alpha = 1.0 - confidence
    low = 0.0 if count == 0 else float(chi2.ppf(alpha / 2, 2 * count)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * count + 2)) / 2
    return low, high


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
