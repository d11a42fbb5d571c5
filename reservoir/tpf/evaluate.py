"""Held-out evaluation of one scorer: thresholds from training (calibration) rows, every number from test rows.

Shared by the hash experiment and the telemetry variant. Controls ("random" scores and the paper's "abort-all")
are evaluated by the same code so their numbers sit beside every result.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .energy import account, corner_advantage, savings_bound
from .independence import baseline_accuracy, is_independent, predictor_accuracy
from .protocol import Protocol
from .stats import advantage_ci, binomial_vs_baseline, clopper_pearson, delong_auc, mcnemar_vs_majority

CURVE_POINTS = 41


def _confusion(y: npt.NDArray[np.bool_], keep: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
    tp = int(np.sum(keep & y))
    fp = int(np.sum(keep & ~y))
    fn = int(np.sum(~keep & y))
    tn = int(np.sum(~keep & ~y))
    return tp, fp, fn, tn


def _roc_points(y: npt.NDArray[np.bool_], s: npt.NDArray[np.float64], points: int = 201) -> dict[str, list[float]]:
    order = np.argsort(-s, kind="stable")
    ys = y[order]
    tpr = np.concatenate([[0.0], np.cumsum(ys) / max(1, int(ys.sum()))])
    fpr = np.concatenate([[0.0], np.cumsum(~ys) / max(1, int((~ys).sum()))])
    pick = np.unique(np.linspace(0, tpr.size - 1, points).astype(int))
    return {"fpr": fpr[pick].tolist(), "tpr": tpr[pick].tolist()}


def evaluate_scores(
    name: str,
    protocol: Protocol,
    cal_ids: npt.NDArray[np.uint64],
    cal_scores: npt.NDArray[np.float64],
    cal_labels: npt.NDArray[np.bool_],
    test_scores: npt.NDArray[np.float64],
    test_labels: npt.NDArray[np.bool_],
    k: int,
    n: int,
    fixed: int,
    max_false_abort: float,
    rng: np.random.Generator,
) -> dict[str, Any]:
    y = np.asarray(test_labels, dtype=bool)
    s = np.asarray(test_scores, dtype=np.float64)
    majority = bool(cal_labels.mean() > 0.5)  # baseline fixed on training data
    base_acc_train = float(max(cal_labels.mean(), 1 - cal_labels.mean()))

    auc = delong_auc(y, s)
    acc_thr = protocol.choose_accuracy_threshold(cal_ids, cal_scores, cal_labels)
    yhat = s >= acc_thr
    correct = int(np.sum(yhat == y))
    mc = mcnemar_vs_majority(y, yhat, majority)
    tp_a, fp_a, fn_a, tn_a = _confusion(y, yhat)
    # held-out count table, rows = predicted class (the predictor's state), columns = true label
    table = [[tn_a, fn_a], [fp_a, tp_a]]

    thr = protocol.choose_threshold(cal_ids, cal_scores, cal_labels, k, max_false_abort, n=n, fixed=fixed)
    keep = s >= thr.value
    tp, fp, fn, tn = _confusion(y, keep)
    acct = account(k, tp, fp, fn, tn, n=n, fixed=fixed)
    ci = advantage_ci(k, tp, fp, fn, tn, rng, n=n, fixed=fixed)
    # pessimistic corner (theorem 5): keep rate at its upper, recall at its lower exact 97.5 % bound
    keep_upper = clopper_pearson(tp + fp, tp + fp + fn + tn)[1]
    recall_lower = clopper_pearson(tp, tp + fn)[0]

    # savings vs false-abort curve: thresholds = quantiles of training scores, evaluated on test rows
    curve: dict[str, list[float]] = {"threshold": [], "savings": [], "false_abort": [], "advantage": []}
    for q in np.linspace(0.0, 1.0, CURVE_POINTS):
        t = float(np.quantile(cal_scores, q))
        kp = s >= t
        a = account(k, *_confusion(y, kp), n=n, fixed=fixed)
        curve["threshold"].append(t)
        curve["savings"].append(a.savings)
        curve["false_abort"].append(a.false_abort_rate)
        curve["advantage"].append(a.advantage if math.isfinite(a.advantage) else -1.0)

    return {
        "name": name,
        "n_test": int(y.size),
        "test_positives": int(y.sum()),
        "auc": auc.auc,
        "auc_ci": list(auc.ci),
        "auc_se": auc.se,
        "auc_p_greater": auc.p_greater,
        "accuracy": correct / y.size,
        "majority_accuracy": float(np.mean(y == majority)),
        "majority_accuracy_train": base_acc_train,
        "accuracy_threshold": acc_thr,
        "precision": tp_a / (tp_a + fp_a) if tp_a + fp_a else float("nan"),
        "recall": tp_a / (tp_a + fn_a) if tp_a + fn_a else float("nan"),
        "mcnemar_vs_majority": mc,
        "binomial_p_vs_majority": binomial_vs_baseline(correct, y.size, base_acc_train),
        "independence": {
            "table_pred_by_label": table,
            "baseline_accuracy": float(baseline_accuracy(table)),
            "predictor_accuracy": float(predictor_accuracy(table, [0, 1])),
            "exactly_independent": is_independent(table),
        },
        "savings_bound_abort_all": savings_bound(k, n),
        "filter": {
            "threshold": thr.value,
            "rule": thr.rule,
            "train_false_abort": thr.train_false_abort,
            "train_keep": thr.train_keep,
            "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            **acct.as_dict(),
            "advantage_ci": list(ci),
            "keep_upper": keep_upper,
            "recall_lower": recall_lower,
            "advantage_corner": corner_advantage(k, keep_upper, recall_lower, n=n, fixed=fixed),
        },
        "roc": _roc_points(y, s),
        "curve": curve,
    }


def gate_summary(res: dict[str, Any], p_adjusted: float) -> dict[str, Any]:
    f = res["filter"]
    return {
        "p_value": p_adjusted,
        "advantage": f["advantage"],
        "ci": f["advantage_ci"],
        "savings": f["savings"],
        "false_abort_rate": f["false_abort_rate"],
        "keep_rate": f["keep_rate"],
        "threshold": f["threshold"],
        "advantage_corner": f["advantage_corner"],
    }
