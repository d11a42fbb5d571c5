"""Power check: the same pipeline finds the planted leak of a weak toy hash, and reports SHA-256 as measured."""

from __future__ import annotations

import json

import pytest

from asicrc.reservoir.tpf import TpfGate
from asicrc.reservoir.tpf.data import rate_to_difficulty
from asicrc.reservoir.tpf.experiment import run_hash_experiment

SIZE = {"ks": (5,), "hashes": 30_000, "test_hashes": 15_000, "difficulty": rate_to_difficulty(1 / 128),
        "seeds": (0, 1), "classifiers": ("logreg", "hgb"), "effort": 0.3}


@pytest.fixture(scope="module")
def toy() -> dict:
    return run_hash_experiment(toy_rounds_extra=3, **SIZE)


@pytest.fixture(scope="module")
def sha() -> dict:
    return run_hash_experiment(**SIZE)


def test_toy_leak_detected_with_real_savings(toy: dict) -> None:
    best = min(toy["classifiers"].values(), key=lambda e: e["gate"]["p_value"])["gate"]
    assert best["p_value"] < 0.01
    assert best["savings"] > 0 and best["ci"][0] > 0  # net work per valid share really goes down
    for run in toy["runs"]:
        assert run["label_rounds"] == 8 and run["k"] == 5
        assert run["header_train"] != run["header_test"]
        hgb = run["classifiers"]["hgb"]
        assert hgb["auc_ci"][0] > 0.9 and hgb["auc_p_holm"] < 0.01
        assert run["controls"]["random"]["auc_ci"][0] < 0.5 < run["controls"]["random"]["auc_ci"][1] or \
            abs(run["controls"]["random"]["auc"] - 0.5) < 0.1
    gate = TpfGate(alpha=0.01)
    assert gate.update(toy) and gate.state()["enabled"]


def test_sha256_reports_what_it_measures(sha: dict) -> None:
    json.dumps(sha, allow_nan=True)
    for run in sha["runs"]:
        assert run["label_rounds"] == 64
        for res in run["classifiers"].values():
            assert 0.0 <= res["auc_p_greater"] <= 1.0 and len(res["auc_ci"]) == 2
            assert abs(res["auc"] - 0.5) < 0.15
            assert res["accuracy"] <= res["majority_accuracy"] + 0.002  # nothing beats "never a share" here
            assert "advantage_ci" in res["filter"] and "independence" in res
        abort_all = run["controls"]["abort_all"]
        assert round(abort_all["savings"], 4) == 0.9219 and abort_all["false_abort_rate"] == 1.0
    gate = TpfGate(alpha=0.01)
    assert gate.update(sha) is False
    assert gate.state()["reason"].startswith("off:")
    for k_summary in sha["summary"].values():
        for name in ("logreg", "hgb"):
            assert "lo" in k_summary[name]["auc"] and "hi" in k_summary[name]["auc"]
