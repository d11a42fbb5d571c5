"""NARMA-10 evaluation of one seed's recorded runs against controls on the same u, and the summary over seeds.

Per seed, every model uses the same chronological split and the same readout (ridge, α by forward-chaining CV on
the training block only, features standardised with training statistics):
  mean            predict the training-block mean
  lags10/lags20   ridge on u(t..t−9) / u(t..t−19)
  quad10          ridge on quadratic features of u(t..t−9)
  device          ridge on the device's state features
  device_shuffled the same features permuted in time (destroys alignment: should be ≈ 1)
  constant_drive  ridge on the features of the constant-drive run of the same device (should be ≈ 1)
  device+lags10   ablation: device features plus the 10 input lags, against lags10 alone
  esn_ref         a software ESN-100 on the same u (what a reservoir of known quality achieves here)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from .controls import input_lags, quadratic_features, time_shuffled
from .esn import EsnConfig, esn_states
from .memory import linear_memory_capacity
from .metrics import all_metrics, holm, mean_ci, min_wilcoxon_p, paired_less
from .readouts import fit_ridge_cv
from .recording import RunRecord
from .split import ChronoSplit

F64 = npt.NDArray[np.float64]
INPUT_ONLY = ("lags10", "lags20", "quad10")
MODEL_ORDER = ("mean", "lags10", "lags20", "quad10", "device", "device_shuffled", "constant_drive",
               "device+lags10", "esn_ref")
SIGNIFICANCE = 0.05


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    washout: int = 200
    train_fraction: float = 0.8
    mc_kmax: int = 40
    esn_ref: EsnConfig = field(default_factory=EsnConfig)


@dataclass(slots=True)
class SeedResult:
    seed: int
    metrics: dict[str, dict[str, float]]  # model -> {nrmse, nmse, nrmse_range, alpha}
    memory: dict[str, dict[str, Any]]  # model -> MemoryCapacity.as_dict()
    test_target: F64
    test_pred: dict[str, F64]


def _fit_eval(name: str, X: F64, y: F64, split: ChronoSplit, out: SeedResult) -> None:
    fit = fit_ridge_cv(X, y, split)
    pred = fit.predict(split.test_rows(X))
    out.metrics[name] = all_metrics(split.test_rows(y), pred) | {"alpha": fit.alpha, "features": X.shape[1]}
    out.test_pred[name] = pred


def analyze_seed(drive: RunRecord, constant: RunRecord | None, seed: int, cfg: AnalysisConfig) -> SeedResult:
    # many small (<= ~500 column) solves: one BLAS thread is faster than several fighting over 2 shared cores
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyze_seed(drive, constant, seed, cfg)


def _analyze_seed(drive: RunRecord, constant: RunRecord | None, seed: int, cfg: AnalysisConfig) -> SeedResult:
    u, y = drive.u, drive.target
    split = ChronoSplit.by_fraction(len(u), cfg.washout, cfg.train_fraction)
    res = SeedResult(seed=seed, metrics={}, memory={}, test_target=split.test_rows(y), test_pred={})
    mean_pred = np.full(split.n_test, split.train_rows(y).mean())
    res.metrics["mean"] = all_metrics(split.test_rows(y), mean_pred) | {"alpha": float("nan"), "features": 0}
    res.test_pred["mean"] = mean_pred
    lags10, lags20 = input_lags(u, 10), input_lags(u, 20)
    _fit_eval("lags10", lags10, y, split, res)
    _fit_eval("lags20", lags20, y, split, res)
    _fit_eval("quad10", quadratic_features(lags10), y, split, res)
    _fit_eval("device", drive.features, y, split, res)
    _fit_eval("device_shuffled", time_shuffled(drive.features, seed + 7919), y, split, res)
    if constant is not None:
        if len(constant.features) != len(u):
            raise ValueError(f"constant-drive run has {len(constant.features)} steps, drive run {len(u)}")
        _fit_eval("constant_drive", constant.features, y, split, res)
    _fit_eval("device+lags10", np.concatenate([drive.features, lags10], axis=1), y, split, res)
    esn = esn_states(u, cfg.esn_ref, seed + 104729)
    _fit_eval("esn_ref", esn, y, split, res)
    if split.washout >= cfg.mc_kmax:
        for name, X in (("device", drive.features), ("lags10", lags10), ("esn_ref", esn)):
            res.memory[name] = linear_memory_capacity(X, u, split, cfg.mc_kmax).as_dict()
    return res


def _stat_block(values: list[float]) -> dict[str, Any]:
    return mean_ci(values).as_dict() | {"per_seed": values}


def summarize(results: list[SeedResult]) -> dict[str, Any]:
    if not results:
        raise ValueError("no seeds to summarise")
    models = [m for m in MODEL_ORDER if all(m in r.metrics for r in results)]
    summary = {
        m: {k: _stat_block([r.metrics[m][k] for r in results]) for k in ("nrmse", "nmse", "nrmse_range")}
        for m in models
    }
    nr = {m: np.array([r.metrics[m]["nrmse"] for r in results]) for m in models}
    best_control = min(INPUT_ONLY, key=lambda m: float(nr[m].mean()))
    vs_best = paired_less(nr["device"], nr[best_control])
    ablation = paired_less(nr["device+lags10"], nr["lags10"])
    vs_shuffled = paired_less(nr["device"], nr["device_shuffled"])
    tests: dict[str, Any] = {
        "device_vs_best_input_only": {"control": best_control} | vs_best.as_dict(),
        "device_plus_lags10_vs_lags10": ablation.as_dict(),
        "device_vs_time_shuffled": vs_shuffled.as_dict(),
    }
    if "constant_drive" in nr:
        tests["device_vs_constant_drive"] = paired_less(nr["device"], nr["constant_drive"]).as_dict()
    # multiple comparisons: the verdict makes two claims on the same seeds; each is decided at SIGNIFICANCE on its
    # own one-sided Wilcoxon p, and the Holm-adjusted p over the whole family of reported tests is given beside it
    # (the best input-only control is picked by its test-block mean, which can only make beating it harder)
    names = list(tests)
    adjusted = holm([tests[k]["p_wilcoxon"] for k in names])
    for k, p_adj in zip(names, adjusted, strict=True):
        tests[k]["p_wilcoxon_holm"] = float(p_adj)
    n_seeds = len(results)
    tests["multiple_comparisons"] = {
        "family": names, "method": "Holm over the one-sided Wilcoxon p-values of the tests above",
        "min_attainable_p_wilcoxon": min_wilcoxon_p(n_seeds),
        "note": ("with n seeds the smallest one-sided exact Wilcoxon p is 2^-n: 5 seeds can reach 0.031, not a "
                 "Holm-adjusted 0.05 over 2+ tests; use >= 7 seeds for a family-wise verdict"),
    }
    memory: dict[str, Any] = {}
    for m in ("device", "lags10", "esn_ref"):
        if all(m in r.memory for r in results):
            totals = [float(r.memory[m]["total"]) for r in results]
            curves = np.array([r.memory[m]["per_lag"] for r in results])
            memory[m] = _stat_block(totals) | {"per_lag_mean": curves.mean(0).tolist()}
    return {"models": summary, "tests": tests, "memory_capacity": memory,
            "verdict": verdict_line(summary, tests, best_control)}


def verdict_line(summary: dict[str, Any], tests: dict[str, Any], best_control: str) -> str:
    def fmt(m: str) -> str:
        s = summary[m]["nrmse"]
        return f"{s['mean']:.3f} ± {s['ci95']:.3f}"

    t = tests["device_vs_best_input_only"]
    beats = t["p_wilcoxon"] < SIGNIFICANCE and t["mean_diff"] < 0
    a = tests["device_plus_lags10_vs_lags10"]
    adds = a["p_wilcoxon"] < SIGNIFICANCE and a["mean_diff"] < 0
    return (
        f"device NRMSE {fmt('device')} {'BEATS' if beats else 'does NOT beat'} the best input-only control "
        f"{best_control} {fmt(best_control)} (paired diff {t['mean_diff']:+.3f} ± {t['ci95']:.3f}, one-sided "
        f"Wilcoxon p={t['p_wilcoxon']:.3g}, t-test p={t['p_ttest']:.3g}, n={t['n']} seeds); device features "
        f"{'ADD' if adds else 'add NO'} significant information over 10 input lags (device+lags10 {fmt('device+lags10')}"
        f" vs lags10 {fmt('lags10')}, Wilcoxon p={a['p_wilcoxon']:.3g}); each claim at p<{SIGNIFICANCE} unadjusted,"
        f" Holm-adjusted p {t.get('p_wilcoxon_holm', float('nan')):.3g} / {a.get('p_wilcoxon_holm', float('nan')):.3g}"
    )
