"""NARMA-10 evaluation of one seed's recorded runs against controls on the same u, and the summary over seeds.

Per seed, every model uses the same chronological split and the same readout (ridge, α by forward-chaining CV on
the training block only, features standardised with training statistics):
  mean            predict the training-block mean
  lags10/lags20   ridge on u(t..t−9) / u(t..t−19)
  quad10/20/30    ridge on constant + linear + quadratic monomials of u(t..t−k+1) (NG-RC, Gauthier 2021)
  commanded20     actuation encodings only: ridge on the last 20 knob values the host commanded (after slew limiting)
  device          ridge on the device's state features
  device_shuffled the same features permuted in time (destroys alignment: should be ≈ 1)
  constant_drive  ridge on the features of the constant-drive run of the same device (should be ≈ 1)
  device+lags10   ablation: device features plus the 10 input lags, against lags10 alone
  device+commanded20  ablation for actuation encodings: device features plus commanded20, against commanded20
  esn_ref         a software ESN on the same u (what a reservoir of known quality achieves here)

Beside NRMSE, every feature-based model gets its linear memory capacity (device, lags10, esn_ref) and its
information processing capacity by degree (asicrc.reservoir.ipc, Dambre 2012) against its state dimension.

The decision (report.json `decision`) makes at most three claims on the same seeds: the device beats the best
input-only control, device+lags10 beats lags10, and (actuation encodings) device+commanded20 beats commanded20.
Each is a one-sided exact Wilcoxon signed-rank test over seeds, Holm-adjusted over that family, at SIGNIFICANCE.
With n seeds the smallest attainable p is 2^-n, so a family of m claims needs m·2^-n < SIGNIFICANCE (7 seeds for
two or three claims at 0.05); the decision block says whether the level was reachable at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from .controls import commanded_lags, input_lags, quadratic_features, time_shuffled
from .esn import EsnConfig, esn_states
from .esn_select import select_reference
from .ipc import IpcConfig, TargetSet, capacity
from .memory import linear_memory_capacity
from .metrics import all_metrics, holm, mean_ci, min_wilcoxon_p, paired_less
from .readouts import fit_ridge_cv
from .recording import RunRecord
from .split import ChronoSplit

F64 = npt.NDArray[np.float64]
INPUT_ONLY = ("lags10", "lags20", "quad10", "quad20", "quad30", "commanded20")
MODEL_ORDER = ("mean", "lags10", "lags20", "quad10", "quad20", "quad30", "commanded20", "device", "device_shuffled",
               "constant_drive", "device+lags10", "device+commanded20", "esn_ref")
SIGNIFICANCE = 0.05  # family-wise level of the decision (Holm over its claims)
COMMANDED_LAGS = 20


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    washout: int = 200
    train_fraction: float = 0.8
    mc_kmax: int = 40
    esn_ref: EsnConfig = field(default_factory=EsnConfig)  # the centre of the CV choice (EsnConfig.for_units)
    esn_ref_cv: bool = True  # choose its input scaling and bias by CV on the training block (esn_select)
    ipc: IpcConfig | None = field(default_factory=IpcConfig)  # None: no IPC; windows are cut to the washout


@dataclass(slots=True)
class SeedResult:
    seed: int
    metrics: dict[str, dict[str, float]]  # model -> {nrmse, nmse, nrmse_range, alpha}
    memory: dict[str, dict[str, Any]]  # model -> MemoryCapacity.as_dict()
    test_target: F64
    test_pred: dict[str, F64]
    ipc: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> ipc.Capacity.as_dict()
    esn_ref: dict[str, Any] = field(default_factory=dict)  # the reference ESN chosen for this seed, and its CV table


def _fit_eval(name: str, X: F64, y: F64, split: ChronoSplit, out: SeedResult,
              states: dict[str, F64] | None = None) -> None:
    if states is not None:
        states[name] = X
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
    states: dict[str, F64] = {}  # model -> the features its readout saw (for the capacities)
    lags10, lags20, lags30 = input_lags(u, 10), input_lags(u, 20), input_lags(u, 30)
    _fit_eval("lags10", lags10, y, split, res, states)
    _fit_eval("lags20", lags20, y, split, res, states)
    _fit_eval("quad10", quadratic_features(lags10), y, split, res, states)
    _fit_eval("quad20", quadratic_features(lags20), y, split, res, states)
    _fit_eval("quad30", quadratic_features(lags30), y, split, res, states)
    commanded = commanded_lags(drive.commanded, COMMANDED_LAGS) if drive.commanded.size else None
    if commanded is not None:
        _fit_eval("commanded20", commanded, y, split, res, states)
    _fit_eval("device", drive.features, y, split, res, states)
    _fit_eval("device_shuffled", time_shuffled(drive.features, seed + 7919), y, split, res, states)
    if constant is not None:
        if len(constant.features) != len(u):
            raise ValueError(f"constant-drive run has {len(constant.features)} steps, drive run {len(u)}")
        _fit_eval("constant_drive", constant.features, y, split, res, states)
    _fit_eval("device+lags10", np.concatenate([drive.features, lags10], axis=1), y, split, res, states)
    if commanded is not None:
        _fit_eval("device+commanded20", np.concatenate([drive.features, commanded], axis=1), y, split, res, states)
    if cfg.esn_ref_cv:
        chosen = select_reference(u, y, split, cfg.esn_ref, seed + 104729)
        esn, res.esn_ref = chosen.states, chosen.as_dict()
    else:
        esn, res.esn_ref = esn_states(u, cfg.esn_ref, seed + 104729), {"config": cfg.esn_ref.as_dict()}
    _fit_eval("esn_ref", esn, y, split, res, states)
    if split.washout >= cfg.mc_kmax:
        for name, X in (("device", drive.features), ("lags10", lags10), ("esn_ref", esn)):
            res.memory[name] = linear_memory_capacity(X, u, split, cfg.mc_kmax).as_dict()
    if cfg.ipc is not None and split.washout >= 1:
        # one target family per input, for every model; a short washout narrows the delays enumerated
        target_set = TargetSet.build(u, split.washout, cfg.ipc.within(split.washout))
        for name, X in states.items():
            c = capacity(X, target_set, split.washout, cfg.ipc.null_scale)
            res.ipc[name] = {"estimable": False} if c is None else c.as_dict() | {"estimable": True}
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
    best_control = min((m for m in INPUT_ONLY if m in nr), key=lambda m: float(nr[m].mean()))
    tests: dict[str, Any] = {
        "device_vs_best_input_only": {"control": best_control} | paired_less(nr["device"], nr[best_control]).as_dict(),
        "device_plus_lags10_vs_lags10": paired_less(nr["device+lags10"], nr["lags10"]).as_dict(),
    }
    if "device+commanded20" in nr:
        tests["device_plus_commanded20_vs_commanded20"] = paired_less(nr["device+commanded20"],
                                                                      nr["commanded20"]).as_dict()
    family = list(tests)
    # the pipeline's own sanity checks are reported beside the claims but are not claims: not in the family
    tests["device_vs_time_shuffled"] = paired_less(nr["device"], nr["device_shuffled"]).as_dict()
    if "constant_drive" in nr:
        tests["device_vs_constant_drive"] = paired_less(nr["device"], nr["constant_drive"]).as_dict()
    adjusted = holm([tests[k]["p_wilcoxon"] for k in family])
    for k, p_adj in zip(family, adjusted, strict=True):
        tests[k]["p_wilcoxon_holm"] = float(p_adj)
    n_seeds = len(results)
    floor = min_wilcoxon_p(n_seeds) * len(family)  # Holm's first step multiplies the smallest p by the family size
    tests["multiple_comparisons"] = {
        "family": family, "method": "Holm over the one-sided exact Wilcoxon p-values of the decision's claims",
        "min_attainable_p_wilcoxon": min_wilcoxon_p(n_seeds),
        "note": (f"with n seeds the smallest one-sided exact Wilcoxon p is 2^-n; a family of {len(family)} claims "
                 f"can reach {SIGNIFICANCE} only if {len(family)}·2^-n < {SIGNIFICANCE} (n >= 7 for 2-3 claims)"),
    }
    decision = decide(tests, family, best_control, n_seeds, floor)
    memory: dict[str, Any] = {}
    for m in ("device", "lags10", "esn_ref"):
        if all(m in r.memory for r in results):
            totals = [float(r.memory[m]["total"]) for r in results]
            curves = np.array([r.memory[m]["per_lag"] for r in results])
            memory[m] = _stat_block(totals) | {"per_lag_mean": curves.mean(0).tolist()}
    return {"models": summary, "tests": tests, "decision": decision, "memory_capacity": memory,
            "ipc": summarize_ipc(results), "verdict": verdict_line(summary, tests, decision)}


def summarize_ipc(results: list[SeedResult]) -> dict[str, Any]:
    """Per model: capacity by degree and total (mean ± CI over seeds) beside the state dimension (its bound)."""
    out: dict[str, Any] = {}
    models = [m for m in MODEL_ORDER if all(m in r.ipc for r in results)]
    too_few_rows = [m for m in models if not all(r.ipc[m]["estimable"] for r in results)]
    if too_few_rows:  # listed, not scored: rows after the washout < 2·dimension + 1 on some seed (ipc.estimable)
        out["not_estimable"] = too_few_rows
    for m in (m for m in models if m not in too_few_rows):
        blocks = [r.ipc[m] for r in results]
        degrees = list(blocks[0]["by_degree"])
        out[m] = {
            "by_degree": {d: _stat_block([float(b["by_degree"][d]) for b in blocks]) for d in degrees},
            "total": _stat_block([float(b["total"]) for b in blocks]),
            "dimension": _stat_block([float(b["dimension"]) for b in blocks]),
            "features": int(blocks[0]["features"]),
            "threshold_mean": {d: float(np.mean([b["threshold"][d] for b in blocks])) for d in degrees},
            "targets": blocks[0]["targets"], "windows": blocks[0].get("windows", []),
        }
    return out


def _significant(test: dict[str, Any]) -> bool:
    return bool(test["p_wilcoxon_holm"] < SIGNIFICANCE and test["mean_diff"] < 0)


def decide(tests: dict[str, Any], family: list[str], best_control: str, n_seeds: int,
           floor: float) -> dict[str, Any]:
    """The verdict as data: each claim true iff its Holm-adjusted one-sided p < SIGNIFICANCE and the mean paired
    difference favours the device."""
    commanded = "device_plus_commanded20_vs_commanded20" in tests
    adds10 = _significant(tests["device_plus_lags10_vs_lags10"])
    adds_cmd = _significant(tests["device_plus_commanded20_vs_commanded20"]) if commanded else None
    return {
        "level": SIGNIFICANCE, "correction": "holm", "family": family, "n_seeds": n_seeds,
        "level_reachable": bool(floor < SIGNIFICANCE), "min_attainable_p_holm": float(min(floor, 1.0)),
        "best_input_only": best_control,
        "beats_best_input_only": _significant(tests["device_vs_best_input_only"]),
        "adds_over_lags10": adds10,
        "adds_over_commanded20": adds_cmd,
        # what the device can be credited with: over the input lags and, for actuation, over the host's commands
        "adds_information": bool(adds10 and (adds_cmd if commanded else True)),
        "p_holm": {k: tests[k]["p_wilcoxon_holm"] for k in family},
    }


def verdict_line(summary: dict[str, Any], tests: dict[str, Any], decision: dict[str, Any]) -> str:
    def fmt(m: str) -> str:
        s = summary[m]["nrmse"]
        return f"{s['mean']:.3f} ± {s['ci95']:.3f}"

    best_control = decision["best_input_only"]
    t = tests["device_vs_best_input_only"]
    a = tests["device_plus_lags10_vs_lags10"]
    line = (
        f"device NRMSE {fmt('device')} {'BEATS' if decision['beats_best_input_only'] else 'does NOT beat'} the best "
        f"input-only control {best_control} {fmt(best_control)} (paired diff {t['mean_diff']:+.3f} ± {t['ci95']:.3f},"
        f" Holm p={t['p_wilcoxon_holm']:.3g}, n={t['n']} seeds); device features "
        f"{'ADD' if decision['adds_over_lags10'] else 'add NO'} significant information over 10 input lags "
        f"(device+lags10 {fmt('device+lags10')} vs lags10 {fmt('lags10')}, Holm p={a['p_wilcoxon_holm']:.3g})"
    )
    if decision["adds_over_commanded20"] is not None:
        c = tests["device_plus_commanded20_vs_commanded20"]
        line += (f"; {'ADD' if decision['adds_over_commanded20'] else 'add NO'} information over the 20 commanded "
                 f"knob values (device+commanded20 {fmt('device+commanded20')} vs commanded20 {fmt('commanded20')}, "
                 f"Holm p={c['p_wilcoxon_holm']:.3g})")
    line += (f"; decision: beats_best_input_only={decision['beats_best_input_only']}, "
             f"adds_over_lags10={decision['adds_over_lags10']}")
    if decision["adds_over_commanded20"] is not None:
        line += f", adds_over_commanded20={decision['adds_over_commanded20']}"
    line += f" (Holm over {len(decision['family'])} claims at {SIGNIFICANCE}"
    if not decision["level_reachable"]:
        line += (f"; UNREACHABLE with {decision['n_seeds']} seeds: the smallest Holm p is "
                 f"{decision['min_attainable_p_holm']:.3g}, use more seeds")
    return line + ")"
