"""Error metrics (std-normalised NRMSE is the headline), confidence intervals and paired tests over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats


def nmse(target: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """mean(e²)/var(target): 1 for the mean predictor."""
    y = np.asarray(target, dtype=float)
    e = y - np.asarray(pred, dtype=float)
    var = float(np.var(y))
    if var == 0.0:
        raise ValueError("target is constant: NRMSE is undefined")
    return float(np.mean(e * e) / var)


def nrmse(target: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """RMSE / std(target) (Appeltant 2011 convention)."""
    return float(np.sqrt(nmse(target, pred)))


def nrmse_range(target: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """RMSE / (max − min): the paper's LV06 convention; ≈ NRMSE/6 on NARMA-10 and grows with length."""
    y = np.asarray(target, dtype=float)
    e = y - np.asarray(pred, dtype=float)
    span = float(np.ptp(y))
    if span == 0.0:
        raise ValueError("target is constant: range-normalised NRMSE is undefined")
    return float(np.sqrt(np.mean(e * e)) / span)


def all_metrics(target: npt.ArrayLike, pred: npt.ArrayLike) -> dict[str, float]:
    return {"nrmse": nrmse(target, pred), "nmse": nmse(target, pred), "nrmse_range": nrmse_range(target, pred)}


@dataclass(frozen=True, slots=True)
class MeanCI:
    mean: float
    half_width: float  # 95% CI half-width (Student t over seeds); nan with one seed
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "ci95": self.half_width, "n": self.n}


def mean_ci(values: npt.ArrayLike, level: float = 0.95) -> MeanCI:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("no values to summarise")
    if v.size == 1:
        return MeanCI(float(v[0]), float("nan"), 1)
    sem = float(np.std(v, ddof=1) / np.sqrt(v.size))
    t = float(stats.t.ppf(0.5 + level / 2, v.size - 1))
    return MeanCI(float(v.mean()), t * sem, int(v.size))


@dataclass(frozen=True, slots=True)
class PairedTest:
    mean_diff: float  # mean of (a − b); negative means a has lower error
    ci95: float
    p_wilcoxon: float  # one-sided: a < b
    p_ttest: float  # one-sided: a < b
    n: int

    def as_dict(self) -> dict[str, float]:
        return {"mean_diff": self.mean_diff, "ci95": self.ci95, "p_wilcoxon": self.p_wilcoxon,
                "p_ttest": self.p_ttest, "n": self.n}


def paired_less(a: npt.ArrayLike, b: npt.ArrayLike) -> PairedTest:
    """Is a's error lower than b's, paired by seed? One-sided Wilcoxon signed-rank and paired t-test."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired test needs two equal-length 1-D arrays, got {x.shape} and {y.shape}")
    d = x - y
    ci = mean_ci(d)
    if d.size < 2 or np.all(d == 0):
        return PairedTest(ci.mean, ci.half_width, 1.0, 1.0, int(d.size))
    p_w = float(stats.wilcoxon(d, alternative="less").pvalue)
    # differences equal up to rounding (a control scoring the same offset on every seed) have no t statistic
    spread = float(np.std(d)) > 1e-9 * float(np.max(np.abs(d)))
    p_t = float(stats.ttest_1samp(d, 0.0, alternative="less").pvalue) if spread else (0.0 if ci.mean < 0 else 1.0)
    return PairedTest(ci.mean, ci.half_width, p_w, p_t, int(d.size))


def holm(pvalues: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm-Bonferroni adjusted p-values (family-wise error control for several tests on the same seeds)."""
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError("holm needs a 1-D array of p-values")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, float(p[i]) * (m - rank)))
        adj[i] = running
    return adj


def min_wilcoxon_p(n: int) -> float:
    """Smallest one-sided exact Wilcoxon signed-rank p-value attainable with n paired seeds (all signs agree)."""
    return float(0.5**n) if n >= 1 else 1.0
