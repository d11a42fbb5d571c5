"""No-leak protocol: planted leaks are refused, honest data pass."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.reservoir.tpf.data import rate_to_difficulty
from asicrc.reservoir.tpf.experiment import run_one
from asicrc.reservoir.tpf.protocol import LeakError, Protocol, check_causal, check_label_rounds
from asicrc.reservoir.tpf.simstream import generate_events
from asicrc.reservoir.tpf.telemetry import run_telemetry_experiment, window_dataset


def _honest(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = rng.random(n) < 0.2
    return X, y


def test_label_that_thresholds_an_input_is_refused() -> None:
    """The paper's MLP bug: label = window_shares > 0 with window_shares among the inputs."""
    rng = np.random.default_rng(1)
    shares = rng.poisson(0.4, 3000)
    X = np.column_stack([rng.normal(size=3000), shares])
    y = shares > 0
    p = Protocol()
    with pytest.raises(LeakError, match="'window_shares' alone separates"):
        p.add_train(np.arange(3000, dtype=np.uint64), X, y, ["jitter", "window_shares"])


def test_honest_features_pass_the_audit() -> None:
    X, y = _honest()
    p = Protocol()
    p.add_train(np.arange(y.size, dtype=np.uint64), X, y, ["a", "b", "c", "d"])
    assert p.audit[0][1] < 0.6


def test_overlapping_splits_are_refused() -> None:
    X, y = _honest()
    p = Protocol()
    p.add_train(np.arange(4000, dtype=np.uint64), X, y, list("abcd"))
    with pytest.raises(LeakError, match="overlap"):
        p.add_test(np.arange(3990, 5000, dtype=np.uint64))


def test_thresholds_on_test_rows_are_refused() -> None:
    X, y = _honest()
    p = Protocol()
    p.add_train(np.arange(4000, dtype=np.uint64), X, y, list("abcd"))
    test_ids = np.arange(4000, 6000, dtype=np.uint64)
    p.add_test(test_ids)
    scores = np.random.default_rng(2).random(2000)
    labels = np.random.default_rng(3).random(2000) < 0.2
    with pytest.raises(LeakError, match="test rows"):
        p.choose_threshold(test_ids, scores, labels, 5, 0.05)
    with pytest.raises(LeakError, match="test rows"):
        p.choose_accuracy_threshold(test_ids, scores, labels)
    # on training rows it works and respects the false-abort budget on those rows
    thr = p.choose_threshold(np.arange(2000, dtype=np.uint64), scores, labels, 5, 0.05)
    assert thr.train_false_abort <= 0.05


def test_threshold_before_test_split_is_refused() -> None:
    X, y = _honest()
    p = Protocol()
    p.add_train(np.arange(4000, dtype=np.uint64), X, y, list("abcd"))
    with pytest.raises(LeakError, match="register the test split"):
        p.choose_threshold(np.arange(10, dtype=np.uint64), np.zeros(10), np.ones(10, bool), 5, 0.05)


def test_label_computable_from_features_is_refused() -> None:
    with pytest.raises(LeakError, match="computable"):
        check_label_rounds(8, 8)
    with pytest.raises(LeakError, match="computable"):
        run_one(0, 5, 2000, 1000, rate_to_difficulty(1 / 16), ["logreg"], 5, 0.05, 0.2)


def test_hash_feature_equal_to_label_is_refused() -> None:
    """A planted leak in the hash experiment: the final-hash label appended as a feature."""
    from asicrc.native import hashing
    from asicrc.reservoir.tpf.data import final_labels, state_features

    header = bytes(range(80))
    nonces = np.arange(20_000, dtype=np.uint32)
    d = rate_to_difficulty(1 / 64)
    X = state_features(hashing.second_compression_states(header, nonces, 5))
    y = final_labels(header, nonces, d)
    X_leak = np.column_stack([X, y.astype(np.float32)])
    names = [f"f{i}" for i in range(264)] + ["final_hash_meets_target"]
    with pytest.raises(LeakError, match="final_hash_meets_target"):
        Protocol().add_train(nonces.astype(np.uint64), X_leak, y, names)
    Protocol().add_train(nonces.astype(np.uint64), X, y, names[:-1])  # the honest features pass


def test_telemetry_leak_is_refused_by_time_and_by_audit() -> None:
    events = generate_events(seed=3, duration_s=1500)
    with pytest.raises(LeakError, match="own label window"):
        run_telemetry_experiment(events, leak=True, classifiers=("logreg",))
    ds = window_dataset(events, leak=True)
    with pytest.raises(LeakError, match="shares_in_window"):
        Protocol().add_train(np.arange(ds.y.size, dtype=np.uint64), ds.X, ds.y, ds.names)
    honest = window_dataset(events)
    check_causal(honest.feature_t_max_ns, honest.t_start_ns)  # no exception: features predate labels
    assert "shares_in_window" not in honest.names
