"""The early-round predictor experiment on SHA-256d (or on the weak toy hash, for the power check).

For each seed and each k: a training job (header) and a different test job, features = k-round state of the
second compression, label = final hash meets the share target. Classifiers are fitted on `hashes` rows of the
training job, thresholds chosen on a further hashes/4 rows of it (still training data), and every reported
number comes from the test job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .classifiers import CLASSIFIERS, make_model
from .data import (
    HashSplit,
    difficulty_to_rate,
    planted_bit,
    planted_oracle_auc,
    random_header,
    state_features,
)
from .energy import COST_MODEL, FIXED_ROUNDS, N_ROUNDS, account
from .evaluate import evaluate_scores, gate_summary
from .power import power_section, validate_against_runs
from .protocol import Protocol, check_label_rounds
from .stats import holm, mean_ci

FEATURE_NAMES = [f"w{i}" for i in range(8)] + [f"bit{i}" for i in range(256)]
AUDIT_ROWS = 60_000


def _nonces(rng: np.random.Generator, count: int) -> np.ndarray:
    start = int(rng.integers(0, 1 << 32))
    return ((np.arange(count, dtype=np.uint64) + start) & 0xFFFFFFFF).astype(np.uint32)


def _audit_rows(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pos = np.flatnonzero(labels)
    neg = np.flatnonzero(~labels)
    pos = pos if pos.size <= AUDIT_ROWS // 2 else rng.choice(pos, AUDIT_ROWS // 2, replace=False)
    take = min(neg.size, AUDIT_ROWS - pos.size)
    return np.concatenate([pos, rng.choice(neg, take, replace=False)])


def run_one(seed: int, k: int, hashes: int, test_hashes: int, difficulty: float, classifiers: Sequence[str],
            toy_rounds: int | None, max_false_abort: float, effort: float,
            plant_delta: float | None = None) -> dict[str, Any]:
    rng = np.random.default_rng([seed, k, 0 if toy_rounds is None else toy_rounds])
    h_train, h_test = random_header(rng), random_header(rng)
    # `hashes` rows fit the classifiers; a further quarter from the same training job chooses thresholds
    n_fit, n_cal = hashes, max(1000, hashes // 4)
    # the planted leak draws from its own stream (same jobs as the plain SHA-256d run, coupled across deltas)
    plant_rng = np.random.default_rng([seed, k, 0x91A7])
    plant = None if plant_delta is None else (plant_delta, plant_rng)
    train = HashSplit.build(h_train, _nonces(rng, n_fit + n_cal), k, difficulty, toy_rounds, plant)
    test = HashSplit.build(h_test, _nonces(rng, test_hashes), k, difficulty, toy_rounds, plant)

    proto = Protocol()
    check_label_rounds(k, train.label_rounds)
    audit = _audit_rows(train.labels, rng)
    proto.add_train(train.ids(), state_features(train.states[audit]), train.labels[audit], FEATURE_NAMES)
    proto.add_test(test.ids())

    fit, cal = slice(0, n_fit), slice(n_fit, n_fit + n_cal)
    cal_ids, cal_labels = train.ids()[cal], train.labels[cal]
    if cal_labels.sum() < 2 or train.labels[fit].sum() < 2 or test.labels.sum() < 2:
        raise ValueError(f"too few positives at difficulty {difficulty:g} with {hashes} hashes "
                         f"(expected rate {difficulty_to_rate(difficulty):.3g}); raise --hashes or lower --difficulty")

    results: dict[str, Any] = {}
    for name in classifiers:
        model = make_model(name, effort)
        t0 = time.perf_counter()
        model.fit(train.states[fit], train.labels[fit], seed)
        fit_s = time.perf_counter() - t0
        res = evaluate_scores(name, proto, cal_ids, model.score(train.states[cal]), cal_labels,
                              model.score(test.states), test.labels, k, N_ROUNDS, FIXED_ROUNDS,
                              max_false_abort, rng)
        res["fit_seconds"] = fit_s
        results[name] = res
    adjusted = holm([results[c]["auc_p_greater"] for c in classifiers])
    for c, p in zip(classifiers, adjusted, strict=True):
        results[c]["auc_p_holm"] = p
        results[c]["gate"] = gate_summary(results[c], p)

    # controls beside the result: random scores through the same pipeline, and the paper's abort-all
    rnd = evaluate_scores("random", proto, cal_ids, rng.random(cal_labels.size), cal_labels,
                          rng.random(test.labels.size), test.labels, k, N_ROUNDS, FIXED_ROUNDS, max_false_abort, rng)
    pos = int(test.labels.sum())
    abort_all = account(k, 0, 0, pos, test.labels.size - pos).as_dict()
    controls: dict[str, Any] = {
        "random": {key: rnd[key] for key in ("auc", "auc_ci", "auc_p_greater", "accuracy", "majority_accuracy",
                                            "filter")},
        "abort_all": abort_all}
    if plant_delta is not None:  # the best possible scorer of the planted leak: the bit itself
        oracle = evaluate_scores("planted_bit", proto, cal_ids, planted_bit(train.states[cal]).astype(np.float64),
                                 cal_labels, planted_bit(test.states).astype(np.float64), test.labels, k, N_ROUNDS,
                                 FIXED_ROUNDS, max_false_abort, rng)
        controls["planted_bit"] = {key: oracle[key] for key in ("auc", "auc_ci", "auc_p_greater", "filter")}
        controls["planted_bit"]["expected_auc"] = planted_oracle_auc(plant_delta, difficulty_to_rate(difficulty))
    return {
        "seed": seed, "k": k, "label_rounds": train.label_rounds,
        "header_train": h_train.hex(), "header_test": h_test.hex(),
        "n_train": n_fit + n_cal, "n_fit": n_fit, "n_calibration": n_cal, "n_test": test_hashes,
        "train_positive_rate": float(train.labels.mean()), "test_positive_rate": float(test.labels.mean()),
        "audit_top_features": proto.audit[:5],
        "classifiers": results,
        "controls": controls,
    }


def _summarise(runs: list[dict[str, Any]], classifiers: Sequence[str], ks: Sequence[int]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    gate_entries: dict[str, Any] = {}
    keys: list[tuple[str, int]] = []
    max_p: list[float] = []
    for k in ks:
        per_k: dict[str, Any] = {}
        for c in classifiers:
            rs = [r["classifiers"][c] for r in runs if r["k"] == k]
            per_k[c] = {
                "auc": mean_ci([r["auc"] for r in rs]),
                "accuracy": mean_ci([r["accuracy"] for r in rs]),
                "majority_accuracy": mean_ci([r["majority_accuracy"] for r in rs]),
                "advantage": mean_ci([r["filter"]["advantage"] for r in rs]),
                "savings": mean_ci([r["filter"]["savings"] for r in rs]),
                "false_abort_rate": mean_ci([r["filter"]["false_abort_rate"] for r in rs]),
                "auc_p_holm_per_seed": [r["auc_p_holm"] for r in rs],
            }
            keys.append((c, k))
            max_p.append(max(r["auc_p_holm"] for r in rs))  # significant only if every seed is
        ctrl = [r["controls"]["random"]["auc"] for r in runs if r["k"] == k]
        per_k["control_random"] = {"auc": mean_ci(ctrl)}
        oracle = [r["controls"]["planted_bit"]["auc"] for r in runs if r["k"] == k and "planted_bit" in r["controls"]]
        if oracle:
            per_k["control_planted_bit"] = {"auc": mean_ci(oracle)}
        summary[str(k)] = per_k
    for (c, k), p in zip(keys, holm(max_p), strict=True):
        rs = [r["classifiers"][c] for r in runs if r["k"] == k]
        gate_entries[f"{c}@k={k}"] = {"gate": {
            "p_value": p,
            "advantage": float(np.mean([r["filter"]["advantage"] for r in rs])),
            "ci": [min(r["filter"]["advantage_ci"][0] for r in rs), max(r["filter"]["advantage_ci"][1] for r in rs)],
            "savings": float(np.mean([r["filter"]["savings"] for r in rs])),
            "false_abort_rate": float(np.mean([r["filter"]["false_abort_rate"] for r in rs])),
            "keep_rate": float(np.mean([r["filter"]["keep_rate"] for r in rs])),
            "threshold": rs[0]["filter"]["threshold"],
            "advantage_corner": min(r["filter"]["advantage_corner"] for r in rs),  # the worst seed
        }}
    return {"summary": summary, "classifiers": gate_entries}


def run_hash_experiment(ks: Sequence[int] = (5,), hashes: int = 1_000_000, test_hashes: int | None = None,
                        difficulty: float = 2.0**-24, seeds: Sequence[int] = (0, 1, 2),
                        classifiers: Sequence[str] = CLASSIFIERS, toy_rounds_extra: int | None = None,
                        max_false_abort: float = 0.05, effort: float = 1.0,
                        progress: Callable[[str], None] | None = None, plant_delta: float | None = None,
                        alpha: float = 0.01) -> dict[str, Any]:
    """Run the experiment; `toy_rounds_extra` = r switches to the power check (label from k + r rounds);
    `plant_delta` = δ plants the graded one-bit leak into the real labels (positive control, `data.plant_leak`).
    `alpha` is the gate's level, used for the report's `power` block."""
    if toy_rounds_extra is not None and plant_delta is not None:
        raise ValueError("choose either the toy hash or a planted leak, not both")
    for c in classifiers:
        if c not in CLASSIFIERS:
            raise ValueError(f"unknown classifier {c!r} (choose from {', '.join(CLASSIFIERS)})")
    if hashes < 1000:
        raise ValueError(f"--hashes must be >= 1000, got {hashes}")
    test_n = test_hashes if test_hashes is not None else max(1000, hashes // 2)
    t0 = time.perf_counter()
    runs = []
    for k in ks:
        for s in seeds:
            t_run = time.perf_counter()
            runs.append(run_one(s, k, hashes, test_n, difficulty, classifiers,
                                None if toy_rounds_extra is None else k + toy_rounds_extra, max_false_abort, effort,
                                plant_delta))
            if progress is not None:
                aucs = ", ".join(f"{c} {r['auc']:.4f}" for c, r in runs[-1]["classifiers"].items())
                progress(f"  k={k} seed={s}: AUC {aucs} ({time.perf_counter() - t_run:.0f} s)")
    if toy_rounds_extra is not None:
        source, hash_name = "toy", f"toy: second compression cut to k+{toy_rounds_extra} rounds"
    elif plant_delta is not None:
        source, hash_name = "planted", f"sha256d with a planted one-bit leak: P(share) x (1 +- {plant_delta:g}) by bit0"
    else:
        source, hash_name = "hash", "sha256d"
    report: dict[str, Any] = {
        "source": source,
        "hash": hash_name,
        "config": {"ks": list(ks), "hashes": hashes, "test_hashes": test_n, "difficulty": difficulty,
                   "expected_positive_rate": difficulty_to_rate(difficulty), "seeds": list(seeds),
                   "classifiers": list(classifiers), "max_false_abort": max_false_abort, "effort": effort,
                   "n_rounds": N_ROUNDS, "fixed_rounds": FIXED_ROUNDS, "plant_delta": plant_delta,
                   "alpha": alpha},
        "cost_model": COST_MODEL,
        "runs": runs,
    }
    report.update(_summarise(runs, classifiers, ks))
    rate = difficulty_to_rate(difficulty)
    report["power"] = power_section(runs, ks, classifiers, alpha, rate, FIXED_ROUNDS, N_ROUNDS)
    if plant_delta is not None:
        report["power"]["planted"] = {
            "delta": plant_delta, "oracle_auc_expected": planted_oracle_auc(plant_delta, rate),
            "oracle_auc_measured": mean_ci([r["controls"]["planted_bit"]["auc"] for r in runs]),
            "validation": validate_against_runs(runs, ks, classifiers, alpha, report.get("classifiers"))}
    report["seconds"] = time.perf_counter() - t0
    return report
