"""Significance tests used by every TPF evaluation: DeLong AUC (CI + one-sided p), exact McNemar and exact
binomial against the majority baseline, Holm adjustment, bootstrap CI of the energy advantage, seed CIs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from .. import metrics
from .energy import FIXED_ROUNDS, N_ROUNDS, account


@dataclass(frozen=True, slots=True)
class AucResult:
    auc: float
    se: float
    ci: tuple[float, float]
    p_greater: float  # H0: AUC = 0.5 against AUC > 0.5


def delong_auc(labels: npt.ArrayLike, scores: npt.ArrayLike, level: float = 0.95) -> AucResult:
    """AUC with DeLong's variance (fast midrank form, Sun & Xu 2014)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-D arrays of the same length")
    pos, neg = s[y], s[~y]
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        return AucResult(float("nan"), float("nan"), (float("nan"), float("nan")), 1.0)
    tx = stats.rankdata(pos)
    ty = stats.rankdata(neg)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    auc = float((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
    v01 = (tz[:m] - tx) / n
    v10 = 1.0 - (tz[m:] - ty) / m
    var = float(np.var(v01, ddof=1) / m + np.var(v10, ddof=1) / n)
    se = math.sqrt(max(var, 0.0))
    zq = float(stats.norm.ppf(0.5 + level / 2))
    if se == 0.0:
        p = 0.0 if auc > 0.5 else 1.0
    else:
        p = float(stats.norm.sf((auc - 0.5) / se))
    return AucResult(auc, se, (max(0.0, auc - zq * se), min(1.0, auc + zq * se)), p)


def mcnemar_vs_majority(labels: npt.ArrayLike, predicted: npt.ArrayLike, majority: bool) -> dict[str, float]:
    """Exact one-sided McNemar test: is the classifier right more often than the constant majority guess?"""
    y = np.asarray(labels, dtype=bool)
    yhat = np.asarray(predicted, dtype=bool)
    clf_right = yhat == y
    base_right = y == majority
    b = int(np.sum(clf_right & ~base_right))
    c = int(np.sum(~clf_right & base_right))
    p = float(stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue) if b + c else 1.0
    return {"b_clf_only_right": b, "c_base_only_right": c, "p_value": p}


def binomial_vs_baseline(correct: int, total: int, baseline_acc: float) -> float:
    """Exact one-sided binomial p: accuracy above the baseline accuracy fixed on training data."""
    if total <= 0:
        return 1.0
    return float(stats.binomtest(int(correct), int(total), min(max(baseline_acc, 0.0), 1.0),
                                 alternative="greater").pvalue)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of a binomial proportion; each end is a one-sided
    (1 + level)/2 bound."""
    if trials <= 0:
        return (0.0, 1.0)
    x, n = int(successes), int(trials)
    if not 0 <= x <= n:
        raise ValueError(f"successes must be in 0..{n}, got {x}")
    tail = (1 - level) / 2
    lo = 0.0 if x == 0 else float(stats.beta.ppf(tail, x, n - x + 1))
    hi = 1.0 if x == n else float(stats.beta.ppf(1 - tail, x + 1, n - x))
    return lo, hi


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given), as a list: the reservoir's one implementation."""
    return [float(v) for v in metrics.holm(p_values)]


def advantage_ci(k: int, tp: int, fp: int, fn: int, tn: int, rng: np.random.Generator, n_boot: int = 2000,
                 level: float = 0.95, n: int = N_ROUNDS, fixed: int = FIXED_ROUNDS) -> tuple[float, float]:
    """Bootstrap CI of the net-work advantage. Resampling test rows is a multinomial draw of the four confusion
    cells, which is what is done here (O(n_boot) instead of O(n_boot * rows)). Each cell gets a pseudo-count of
    1/2 (Jeffreys) so an empty cell -- typically zero observed false aborts among few positives -- does not
    collapse the interval to a point and pretend certainty."""
    total = tp + fp + fn + tn
    cells = np.array([tp, fp, fn, tn], dtype=np.float64) + 0.5
    probs = cells / cells.sum()
    draws = rng.multinomial(total, probs, size=n_boot)
    adv = np.array([account(k, int(d[0]), int(d[1]), int(d[2]), int(d[3]), n=n, fixed=fixed).advantage
                    for d in draws], dtype=np.float64)
    adv = np.where(np.isnan(adv), -np.inf, adv)
    lo, hi = np.quantile(adv, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict[str, float | int]:
    """Mean over seeds with a t interval."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": 0}
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "lo": float("nan"), "hi": float("nan"), "n": int(v.size)}
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": int(v.size)}
