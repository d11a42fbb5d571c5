"""The no-leak protocol, enforced in code.

* features before label: a hash label must depend on more rounds than the features (`check_label_rounds`); a
  telemetry row's features must all predate its label window (`check_causal`);
* no label hidden in the features: any single feature that alone separates the classes (training AUC >=
  `max_single_auc`, e.g. the paper's label = "window_shares > 0" with window_shares an input) is refused;
* train/test disjoint (`add_test` refuses overlapping row ids);
* thresholds chosen on training data only (`choose_threshold` refuses rows that belong to the test split).
A violation raises `LeakError` (a ValueError, so the CLI prints one clear line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .energy import FIXED_ROUNDS, N_ROUNDS, expected_second_rounds


class LeakError(ValueError):
    """The evaluation protocol was violated; the experiment refuses to report a number."""

    asicrc_user_error = True


def check_label_rounds(k: int, label_rounds: int) -> None:
    if label_rounds <= k:
        raise LeakError(f"label depends on {label_rounds} rounds but features already see {k}: "
                        "the label is computable from the features")


def check_causal(feature_t_max_ns: npt.ArrayLike, label_t_start_ns: npt.ArrayLike) -> None:
    f = np.asarray(feature_t_max_ns, dtype=np.int64)
    lab = np.asarray(label_t_start_ns, dtype=np.int64)
    bad = np.flatnonzero(f >= lab)
    if bad.size:
        raise LeakError(f"{bad.size} rows use data from their own label window (first row {int(bad[0])}: "
                        f"feature time {int(f[bad[0]])} ns >= label window start {int(lab[bad[0]])} ns)")


def single_feature_auc(x: npt.NDArray[np.floating], y: npt.NDArray[np.bool_]) -> float:
    """AUC of one feature column used alone as a score (Mann-Whitney via ranks)."""
    from scipy.stats import rankdata

    m = int(y.sum())
    n = y.size - m
    if m == 0 or n == 0:
        return 0.5
    r = rankdata(x)
    return float((r[y].sum() - m * (m + 1) / 2) / (m * n))


def audit_single_features(X: npt.NDArray[np.floating], y: npt.NDArray[np.bool_], names: Sequence[str],
                          max_rows: int = 100_000, seed: int = 0) -> list[tuple[str, float]]:
    """Per-feature separation |AUC - 0.5| + 0.5 on (a subsample of) training rows, strongest first.
    AUC is prevalence-free, so keeping every positive and subsampling negatives does not bias it."""
    y = np.asarray(y, dtype=bool)
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y)
    neg = np.flatnonzero(~y)
    if pos.size > max_rows // 2:
        pos = rng.choice(pos, max_rows // 2, replace=False)
    if neg.size > max_rows - pos.size:
        neg = rng.choice(neg, max_rows - pos.size, replace=False)
    rows = np.concatenate([pos, neg])
    Xs, ys = np.asarray(X)[rows], y[rows]
    out = []
    for j, name in enumerate(names):
        a = single_feature_auc(Xs[:, j], ys)
        out.append((str(name), max(a, 1.0 - a)))
    return sorted(out, key=lambda t: -t[1])


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    rule: str
    train_false_abort: float
    train_keep: float
    train_advantage: float


def _train_advantage(k: int, keep: float, recall: float, n: int, fixed: int) -> float:
    """Net-work advantage (see energy.account) from rates instead of counts."""
    if recall <= 0:
        return -np.inf
    return 1.0 - (fixed + expected_second_rounds(k, keep, n)) / ((fixed + n) * recall)


@dataclass(slots=True)
class Protocol:
    """Holds the ids of each split and refuses anything that mixes them."""

    max_single_auc: float = 0.999
    train_ids: npt.NDArray[np.uint64] | None = None
    test_ids: npt.NDArray[np.uint64] | None = None
    audit: list[tuple[str, float]] = field(default_factory=list)

    def add_train(self, ids: npt.NDArray[np.uint64], X: npt.NDArray[np.floating], y: npt.NDArray[np.bool_],
                  names: Sequence[str]) -> None:
        """Register the training split (all its row ids) and audit its features; X/y may be a subsample of the
        training rows (the audit is about feature/label relations, not about every row)."""
        if len(names) != X.shape[1]:
            raise ValueError(f"{len(names)} feature names for {X.shape[1]} feature columns")
        if len(y) != X.shape[0]:
            raise ValueError("audit features and labels must have the same number of rows")
        if np.unique(ids).size != ids.size:
            raise LeakError("training rows are not unique (duplicated ids)")
        self.audit = audit_single_features(X, y, names)
        name, auc = self.audit[0] if self.audit else ("", 0.5)
        if auc >= self.max_single_auc:
            raise LeakError(f"label leak: feature {name!r} alone separates the classes on training data "
                            f"(AUC {auc:.4f} >= {self.max_single_auc}); the label is (a threshold of) an input")
        self.train_ids = np.sort(ids)

    def add_test(self, ids: npt.NDArray[np.uint64]) -> None:
        if self.train_ids is None:
            raise LeakError("register the training split before the test split")
        overlap = np.intersect1d(self.train_ids, ids, assume_unique=False)
        if overlap.size:
            raise LeakError(f"train and test overlap in {overlap.size} rows (first id {int(overlap[0]):#x})")
        self.test_ids = np.sort(ids)

    def _refuse_test_rows(self, ids: npt.NDArray[np.uint64]) -> None:
        if self.test_ids is None:
            raise LeakError("register the test split before choosing thresholds (so they can be kept apart)")
        overlap = np.intersect1d(self.test_ids, ids)
        if overlap.size:
            raise LeakError(f"threshold chosen on {overlap.size} test rows: thresholds must come from training data")

    def choose_threshold(self, ids: npt.NDArray[np.uint64], scores: npt.NDArray[np.floating],
                         labels: npt.NDArray[np.bool_], k: int, max_false_abort: float,
                         n: int = N_ROUNDS, fixed: int = FIXED_ROUNDS) -> Threshold:
        """Filter threshold on training (calibration) rows: the one maximising the net-work advantage among
        thresholds whose training false-abort rate stays within `max_false_abort`."""
        self._refuse_test_rows(ids)
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=bool)
        pos = np.sort(s[y])
        if pos.size == 0:
            raise LeakError("no positive rows in the training data used for the threshold")
        all_sorted = np.sort(s)
        n_cut = int(np.floor(max_false_abort * pos.size))
        best = Threshold(float(pos[0]), "keep-all-positives", 0.0, 0.0, -np.inf)
        for j in range(n_cut + 1):  # threshold = j-th smallest positive score: j positives aborted
            t = float(pos[j])
            keep = 1.0 - np.searchsorted(all_sorted, t, side="left") / s.size
            recall = 1.0 - np.searchsorted(pos, t, side="left") / pos.size
            adv = _train_advantage(k, keep, recall, n, fixed)
            if adv > best.train_advantage:
                best = Threshold(t, f"max training advantage s.t. false aborts <= {max_false_abort}",
                                 1.0 - recall, keep, adv)
        return best

    def choose_accuracy_threshold(self, ids: npt.NDArray[np.uint64], scores: npt.NDArray[np.floating],
                                  labels: npt.NDArray[np.bool_]) -> float:
        """Decision threshold maximising training accuracy (what a plain classifier would use)."""
        self._refuse_test_rows(ids)
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=bool)
        order = np.argsort(-s, kind="stable")
        ys = y[order]
        # predicting the top j rows positive: correct = tp_j + (negatives not in top j)
        tp = np.concatenate([[0], np.cumsum(ys)])
        fp = np.concatenate([[0], np.cumsum(~ys)])
        correct = tp + (int((~y).sum()) - fp)
        j = int(np.argmax(correct))  # ties -> fewest predicted positives (j = 0 = majority "all negative")
        return float("inf") if j == 0 else float(s[order][j - 1])
