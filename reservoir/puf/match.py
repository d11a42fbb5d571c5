"""Distances between signatures and the error-rate statistics of a verifier (FAR, FRR, EER, intervals).

Distance: root-mean-square of per-feature z-scores, ``sqrt(mean(((x - template) / scale)^2))``, where ``scale`` is
the pooled *within-device* standard deviation of each feature, estimated on training sessions only (enrolment
sessions, or calibration devices in an evaluation). A genuine session is then at distance ~1 by construction;
how far impostors are is what the data say.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

F64 = npt.NDArray[np.float64]


def pooled_within_sd(session_sets: Sequence[F64]) -> F64:
    """Per-feature standard deviation of sessions around their own device's mean, pooled over devices."""
    usable = [np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in session_sets]
    usable = [s for s in usable if s.shape[0] >= 2]
    if not usable:
        raise ValueError("scales need at least one device with >= 2 sessions")
    width = usable[0].shape[1]
    if any(s.shape[1] != width for s in usable):
        raise ValueError("all sessions must have the same number of features (same model and challenge)")
    ss = sum(((s - s.mean(axis=0)) ** 2).sum(axis=0) for s in usable)
    dof = sum(s.shape[0] - 1 for s in usable)
    sd = np.sqrt(np.asarray(ss, dtype=np.float64) / dof)
    # floor: a feature that never varied within a device (quantized readings) must not get an infinite weight
    means = np.array([s.mean(axis=0) for s in usable])
    spread = means.std(axis=0) if len(usable) > 1 else np.abs(means[0])
    floor = np.maximum(1e-3 * spread, 1e-9 * (1.0 + np.abs(means).max(axis=0)))
    return np.asarray(np.maximum(sd, floor), dtype=np.float64)


def distance(x: F64, template: F64, scale: F64, mask: npt.NDArray[np.bool_] | None = None) -> float:
    z = (np.asarray(x) - template) / scale
    if mask is not None:
        z = z[mask]
    if z.size == 0:
        raise ValueError("no features selected")
    return float(np.sqrt(np.mean(z * z)))


@dataclass(frozen=True, slots=True)
class ErrorRates:
    threshold: float
    far: float  # impostors accepted (distance <= threshold)
    frr: float  # genuine rejected (distance > threshold)
    far_ci: tuple[float, float]
    frr_ci: tuple[float, float]
    n_genuine: int
    n_impostor: int


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n <= 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def error_rates(genuine: Sequence[float], impostor: Sequence[float], threshold: float) -> ErrorRates:
    g, i = np.asarray(genuine, dtype=np.float64), np.asarray(impostor, dtype=np.float64)
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor distance")
    fa, fr = int((i <= threshold).sum()), int((g > threshold).sum())
    return ErrorRates(float(threshold), fa / i.size, fr / g.size, wilson(fa, i.size), wilson(fr, g.size),
                      int(g.size), int(i.size))


def eer(genuine: Sequence[float], impostor: Sequence[float]) -> tuple[float, float]:
    """Equal error rate and its threshold (the threshold where FAR and FRR are closest; EER = their mean)."""
    g, i = np.sort(np.asarray(genuine, dtype=np.float64)), np.sort(np.asarray(impostor, dtype=np.float64))
    if g.size == 0 or i.size == 0:
        raise ValueError("need at least one genuine and one impostor distance")
    if g.max() < i.min():  # perfectly separated: EER 0, threshold midway between the two sets
        return 0.0, float((g.max() + i.min()) / 2)
    candidates = np.unique(np.concatenate([g, i]))
    frr = 1.0 - np.searchsorted(g, candidates, side="right") / g.size
    far = np.searchsorted(i, candidates, side="right") / i.size
    k = int(np.argmin(np.abs(far - frr)))  # first (lowest) threshold among ties
    return float((far[k] + frr[k]) / 2), float(candidates[k])


def bootstrap_eer_ci(
    genuine_by_device: dict[str, list[float]],
    impostor_by_device: dict[str, list[float]],
    rng: np.random.Generator,
    resamples: int = 500,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the EER, resampling *devices* (a device's distances are not independent)."""
    devices = sorted(set(genuine_by_device) & set(impostor_by_device))
    if len(devices) < 2:
        raise ValueError("a device bootstrap needs at least 2 devices")
    values: list[float] = []
    for _ in range(resamples):
        pick = rng.choice(len(devices), size=len(devices), replace=True)
        g = [d for k in pick for d in genuine_by_device[devices[k]]]
        i = [d for k in pick for d in impostor_by_device[devices[k]]]
        values.append(eer(g, i)[0])
    lo, hi = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)
