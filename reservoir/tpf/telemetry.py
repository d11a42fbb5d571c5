"""Telemetry variant (the paper's "thermodynamic" TPF): will a share arrive in the next window?

Features per window come only from events strictly before the window starts (share counts and timing of past
windows, last reported temperature, voltage, power, frequency, hashrate); the label is "at least one share in
[start, start + window)". The split is chronological (fit | calibration | gap | test). Energy is accounted by
the window's measured energy (accounting only, never a feature): skipping a window saves its joules and loses
its shares, so advantage = 1 - kept energy fraction / kept share fraction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from asicrc.drivers.events import Event, Kind

from .energy import COST_MODEL
from .energy import savings as cost_savings
from .evaluate import evaluate_scores
from .protocol import Protocol, check_causal
from .stats import holm

NS = 1_000_000_000
TELEMETRY_KEYS = ("hashrate_hs", "temp_chip_c", "core_voltage_v", "power_w", "frequency_hz")
F64 = npt.NDArray[np.float64]


@dataclass(slots=True)
class WindowDataset:
    X: F64
    y: npt.NDArray[np.bool_]
    names: list[str]
    t_start_ns: npt.NDArray[np.int64]
    feature_t_max_ns: npt.NDArray[np.int64]
    shares: npt.NDArray[np.int64]  # shares inside each label window (accounting)
    energy_j: F64  # energy spent inside each label window (accounting)


def _last_before(times: npt.NDArray[np.int64], t: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    return np.searchsorted(times, t, side="left") - 1


def window_dataset(events: Iterable[Event], window_s: float = 2.0, lookback: int = 5,
                   leak: bool = False) -> WindowDataset:
    """Windows over an event stream (one device). `leak=True` plants the paper's bug -- the label window's own
    share count as a feature -- so tests can show the protocol refuses it."""
    if window_s <= 0 or lookback < 1:
        raise ValueError("window_s must be > 0 and lookback >= 1")
    ev = sorted(events, key=lambda e: e.t_ns)
    share_t = np.array([e.t_ns for e in ev if str(e.kind) == Kind.SHARE], dtype=np.int64)
    tel = [e for e in ev if str(e.kind) == Kind.TELEMETRY and all(k in e.data for k in TELEMETRY_KEYS)]
    if share_t.size < 10 or len(tel) < 3:
        raise ValueError(f"event stream too short for windows: {share_t.size} shares, {len(tel)} telemetry events "
                         f"with all of {', '.join(TELEMETRY_KEYS)}")
    tel_t = np.array([e.t_ns for e in tel], dtype=np.int64)
    tel_v = np.array([[float(e.data[k]) for k in TELEMETRY_KEYS] for e in tel], dtype=np.float64)
    w_ns = int(window_s * NS)
    t0 = max(int(tel_t[1]), int(share_t[0])) + lookback * w_ns
    t_end = int(max(share_t[-1], tel_t[-1]))
    starts = np.arange(t0, t_end - w_ns, w_ns, dtype=np.int64)
    if starts.size < 50:
        raise ValueError(f"only {starts.size} windows of {window_s} s in the stream; need >= 50")

    def count(lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return (np.searchsorted(share_t, hi, "left") - np.searchsorted(share_t, lo, "left")).astype(np.int64)

    shares_in = count(starts, starts + w_ns)
    prev1 = count(starts - w_ns, starts)
    prevk = count(starts - lookback * w_ns, starts)
    last_share = _last_before(share_t, starts)
    since = np.where(last_share >= 0, (starts - share_t[np.maximum(last_share, 0)]) / NS, lookback * window_s)
    jitter = np.zeros(starts.size)
    for i, j in enumerate(last_share):  # std of the last 10 inter-share intervals before the window
        if j >= 2:
            jitter[i] = float(np.std(np.diff(share_t[max(0, j - 10):j + 1])) / NS)
    ti = _last_before(tel_t, starts)
    if np.any(ti < 1):
        raise ValueError("some windows have no telemetry before them")
    last = tel_v[ti]
    slope = (tel_v[ti, 1] - tel_v[ti - 1, 1]) / ((tel_t[ti] - tel_t[ti - 1]) / NS)
    cols = [prev1, prevk, since, jitter, *last.T, slope]
    names = ["shares_prev_window", f"shares_prev_{lookback}_windows", "s_since_last_share", "share_interval_std_s",
             *TELEMETRY_KEYS, "temp_chip_slope_c_per_s"]
    feature_t = np.maximum(np.where(last_share >= 0, share_t[np.maximum(last_share, 0)], 0), tel_t[ti])
    if leak:
        cols.append(shares_in)
        names.append("shares_in_window")
        last_in = np.searchsorted(share_t, starts + w_ns, "left") - 1
        feature_t = np.maximum(feature_t, np.where(shares_in > 0, share_t[np.maximum(last_in, 0)], starts))
    # energy inside each label window from the power reports (accounting only)
    te = np.clip(_last_before(tel_t, starts + w_ns // 2), 0, None)
    energy = tel_v[te, TELEMETRY_KEYS.index("power_w")] * window_s
    return WindowDataset(np.column_stack(cols).astype(np.float64), shares_in > 0, names, starts,
                         feature_t.astype(np.int64), shares_in, energy)


def _make(name: str, seed: int) -> Any:
    if name == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    if name == "hgb":
        return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, random_state=seed)
    if name == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier((16, 8), max_iter=300, early_stopping=True,
                                                             random_state=seed))
    raise ValueError(f"unknown classifier {name!r}")


def _block_indices(n: int, block: int, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    starts = rng.integers(0, max(1, n - block + 1), size=math.ceil(n / block))
    return (starts[:, None] + np.arange(block)[None, :]).ravel()[:n]


def _auc(y: npt.NDArray[np.bool_], s: F64) -> float:
    from scipy.stats import rankdata

    m = int(y.sum())
    n = y.size - m
    if m == 0 or n == 0:
        return 0.5
    return float((rankdata(s)[y].sum() - m * (m + 1) / 2) / (m * n))


def energy_advantage(keep: npt.NDArray[np.bool_], shares: npt.NDArray[np.int64], energy: F64) -> dict[str, float]:
    e_frac = float(energy[keep].sum() / energy.sum())
    s_frac = float(shares[keep].sum() / shares.sum()) if shares.sum() else float("nan")
    adv = 1.0 - e_frac / s_frac if s_frac > 0 else -math.inf
    return {"energy_keep_fraction": e_frac, "share_keep_fraction": s_frac,
            "savings": float(cost_savings(0, e_frac, n=1)), "false_abort_rate": 1.0 - s_frac, "advantage": adv}


def block_bootstrap(y: npt.NDArray[np.bool_], s: F64, keep: npt.NDArray[np.bool_], shares: npt.NDArray[np.int64],
                    energy: F64, rng: np.random.Generator, block: int = 50, n_boot: int = 400) -> dict[str, Any]:
    """Moving-block bootstrap over consecutive test windows (they are autocorrelated through the operating point,
    which an i.i.d. test would ignore): CI and one-sided p for AUC, CI for the energy advantage."""
    aucs, advs = [], []
    for _ in range(n_boot):
        idx = _block_indices(y.size, block, rng)
        aucs.append(_auc(y[idx], s[idx]))
        a = energy_advantage(keep[idx], shares[idx], energy[idx])["advantage"]
        advs.append(a if math.isfinite(a) else -1.0)
    a_arr, d_arr = np.array(aucs), np.array(advs)
    return {"auc_ci": np.quantile(a_arr, [0.025, 0.975]).tolist(),
            "auc_p_greater": float((np.sum(a_arr <= 0.5) + 1) / (n_boot + 1)),
            "advantage_ci": np.quantile(d_arr, [0.025, 0.975]).tolist(), "block_windows": block, "n_boot": n_boot}


def run_telemetry_experiment(events: Sequence[Event], window_s: float = 2.0, seed: int = 0,
                             classifiers: Sequence[str] = ("logreg", "hgb", "mlp"),
                             max_false_abort: float = 0.05, leak: bool = False) -> dict[str, Any]:
    ds = window_dataset(events, window_s, leak=leak)
    n = ds.y.size
    ids = np.arange(n, dtype=np.uint64)
    n_fit, n_cal, gap = int(0.55 * n), int(0.15 * n), 10
    fit = slice(0, n_fit)
    cal = slice(n_fit, n_fit + n_cal)
    test = slice(n_fit + n_cal + gap, n)
    check_causal(ds.feature_t_max_ns, ds.t_start_ns)
    proto = Protocol()
    proto.add_train(ids[: n_fit + n_cal], ds.X[: n_fit + n_cal], ds.y[: n_fit + n_cal], ds.names)
    proto.add_test(ids[test])
    if ds.y[fit].all() or not ds.y[fit].any():
        raise ValueError("training windows contain a single class; change window_s or stream length")
    rng = np.random.default_rng([seed, 11])
    results: dict[str, Any] = {}
    for name in classifiers:
        model = _make(name, seed)
        with threadpool_limits(1):  # small data: thread pools only add contention on a shared machine (measured)
            model.fit(ds.X[fit], ds.y[fit])
            cal_s = model.predict_proba(ds.X[cal])[:, 1]
            test_s = model.predict_proba(ds.X[test])[:, 1]
        # window units: k = 0 rounds looked at, n = 1 unit of work per window, nothing fixed
        res = evaluate_scores(name, proto, ids[cal], cal_s, ds.y[cal], test_s, ds.y[test], 0, 1, 0,
                              max_false_abort, rng)
        keep = test_s >= res["filter"]["threshold"]
        res["energy_weighted"] = energy_advantage(keep, ds.shares[test], ds.energy_j[test])
        res["block_bootstrap"] = block_bootstrap(ds.y[test], test_s, keep, ds.shares[test], ds.energy_j[test], rng)
        results[name] = res
    # conservative p: the larger of DeLong (i.i.d.) and the block bootstrap, Holm across classifiers
    raw = [max(results[c]["auc_p_greater"], results[c]["block_bootstrap"]["auc_p_greater"]) for c in classifiers]
    for c, p in zip(classifiers, holm(raw), strict=True):
        r = results[c]
        r["auc_p_holm"] = p
        ew = r["energy_weighted"]
        r["gate"] = {"p_value": p, "advantage": ew["advantage"], "ci": r["block_bootstrap"]["advantage_ci"],
                     "savings": ew["savings"], "false_abort_rate": ew["false_abort_rate"],
                     "keep_rate": r["filter"]["keep_rate"], "threshold": r["filter"]["threshold"]}
    return {
        "source": "telemetry",
        "config": {"window_s": window_s, "seed": seed, "classifiers": list(classifiers),
                   "max_false_abort": max_false_abort, "n_windows": n, "n_fit": n_fit, "n_calibration": n_cal,
                   "gap_windows": gap, "n_test": int(ids[test].size)},
        "cost_model": COST_MODEL,
        "feature_names": ds.names,
        "positive_rate_test": float(ds.y[test].mean()),
        "audit_top_features": proto.audit[:5],
        "classifiers": results,
    }
