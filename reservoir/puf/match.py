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
    """Percentile interval of the EER, resampling *probe* devices only (impostor distances keyed by probe).

    Kept for callers without pair labels; it does not resample the template side of impostor pairs, so it is too
    narrow when errors cluster on a few templates. `evaluate` uses :func:`device_bootstrap` (two-way).
    """
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


@dataclass(frozen=True, slots=True)
class DeviceBootstrap:
    """Percentile intervals from a two-way device bootstrap (both ends of an impostor pair are resampled)."""

    eer_ci: tuple[float, float]
    far_ci: tuple[float, float]  # at the given threshold; (nan, nan) without one
    frr_ci: tuple[float, float]
    resamples: int  # resamples used (those drawing a single distinct device have no impostor pair: skipped)


def device_bootstrap(
    genuine_by_device: dict[str, list[float]],
    impostor_by_pair: dict[tuple[str, str], list[float]],
    rng: np.random.Generator,
    threshold: float | None = None,
    resamples: int = 500,
    confidence: float = 0.95,
) -> DeviceBootstrap:
    """EER (and FAR/FRR at a fixed threshold) intervals resampling *devices*, not pairs.

    Distances of one device are dependent (one template, one silicon), so pairs are not independent draws and a
    binomial interval over pairs is too narrow. A resample draws n devices with replacement; its genuine
    distances are those of the drawn devices (with multiplicity) and its impostor distances those of every
    ordered pair of draws (probe, template) that are different devices, weighted by the product of their
    multiplicities, so a device drawn twice counts twice as probe *and* as template. An interval whose
    resamples are all 0 (no error seen) gets the exact upper limit for 0 failures in n devices instead of 0.
    """
    devices = sorted(genuine_by_device)
    n = len(devices)
    if n < 2:
        raise ValueError("a device bootstrap needs at least 2 devices")
    pos = {d: k for k, d in enumerate(devices)}
    g_val, g_dev = [], []
    for d in devices:
        g_val.extend(genuine_by_device[d])
        g_dev.extend([pos[d]] * len(genuine_by_device[d]))
    i_val, i_probe, i_tmpl = [], [], []
    for (p, t), vals in impostor_by_pair.items():
        if p not in pos or t not in pos or p == t:
            raise ValueError(f"impostor pair {(p, t)!r} must join two different devices with genuine distances")
        i_val.extend(vals)
        i_probe.extend([pos[p]] * len(vals))
        i_tmpl.extend([pos[t]] * len(vals))
    gv, gd = np.asarray(g_val, dtype=np.float64), np.asarray(g_dev, dtype=np.intp)
    iv = np.asarray(i_val, dtype=np.float64)
    ip, it = np.asarray(i_probe, dtype=np.intp), np.asarray(i_tmpl, dtype=np.intp)
    if gv.size == 0 or iv.size == 0:
        raise ValueError("need at least one genuine and one impostor distance")
    g_order, i_order = np.argsort(gv, kind="stable"), np.argsort(iv, kind="stable")
    gv, gd = gv[g_order], gd[g_order]
    iv, ip, it = iv[i_order], ip[i_order], it[i_order]
    candidates = np.unique(np.concatenate([gv, iv]))
    g_idx = np.searchsorted(gv, candidates, side="right")  # genuine values <= candidate: prefix length
    i_idx = np.searchsorted(iv, candidates, side="right")
    eers: list[float] = []
    fars: list[float] = []
    frrs: list[float] = []
    for _ in range(resamples):
        count = np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)
        gw, iw = count[gd], count[ip] * count[it]
        gw_tot, iw_tot = gw.sum(), iw.sum()
        if gw_tot == 0 or iw_tot == 0:
            continue
        g_cum = np.concatenate([[0.0], np.cumsum(gw)])
        i_cum = np.concatenate([[0.0], np.cumsum(iw)])
        frr = 1.0 - g_cum[g_idx] / gw_tot  # genuine with distance > candidate
        far = i_cum[i_idx] / iw_tot  # impostors with distance <= candidate
        # EER as in `eer`: perfect separation of the resample gives 0, else the mean at the closest crossing
        g_max = gv[gw > 0].max()
        i_min = iv[iw > 0].min()
        if g_max < i_min:
            eers.append(0.0)
        else:
            k = int(np.argmin(np.abs(far - frr)))
            eers.append(float((far[k] + frr[k]) / 2))
        if threshold is not None:
            fars.append(float(iw[iv <= threshold].sum() / iw_tot))
            frrs.append(float(gw[gv > threshold].sum() / gw_tot))
    if not eers:
        raise ValueError("no bootstrap resample drew two different devices")
    q = [(1 - confidence) / 2, (1 + confidence) / 2]

    # a percentile bootstrap of a sample with no errors is [0, 0]: it says nothing about error rates below
    # 1/n devices. Then the upper limit is the exact (Clopper-Pearson) one for 0 failures in n independent devices
    # (3.7/n-ish, the "rule of three"), and symmetrically for a rate of 1.
    zero_hi = 1.0 - ((1 - confidence) / 2) ** (1.0 / n)

    def interval(v: list[float]) -> tuple[float, float]:
        if not v:
            return (math.nan, math.nan)
        lo, hi = (float(x) for x in np.quantile(v, q))
        if hi == 0.0:
            hi = zero_hi
        if lo == 1.0:
            lo = 1.0 - zero_hi
        return (lo, hi)

    return DeviceBootstrap(interval(eers), interval(fars), interval(frrs), len(eers))
