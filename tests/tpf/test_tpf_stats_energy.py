"""Statistics and the energy account."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from asicrc.reservoir.tpf.energy import account, savings, savings_bound
from asicrc.reservoir.tpf.stats import advantage_ci, delong_auc, holm, mcnemar_vs_majority, mean_ci


def test_delong_matches_sklearn_auc_and_detects_signal() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(5000) < 0.1
    s = rng.normal(size=5000) + 0.5 * y
    r = delong_auc(y, s)
    assert r.auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert r.p_greater < 1e-6 and r.ci[0] < r.auc < r.ci[1]


def test_delong_null_is_calibrated() -> None:
    """Under the null, p-values are ~uniform: about 5% below 0.05 over many independent datasets."""
    rng = np.random.default_rng(1)
    ps = [delong_auc(rng.random(600) < 0.2, rng.normal(size=600)).p_greater for _ in range(300)]
    assert 0.01 < np.mean(np.array(ps) < 0.05) < 0.10


def test_mcnemar_and_holm() -> None:
    y = np.array([0] * 90 + [1] * 10, bool)
    assert mcnemar_vs_majority(y, np.zeros(100, bool), False)["p_value"] == 1.0
    assert mcnemar_vs_majority(y, y, False)["p_value"] < 0.01
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_abort_all_is_the_papers_number_and_the_worst_filter() -> None:
    a = account(5, tp=0, fp=0, fn=40, tn=9960)
    assert a.savings == pytest.approx(1 - 5 / 64) == pytest.approx(savings_bound(5))
    assert round(a.savings * 100, 2) == 92.19
    assert a.false_abort_rate == 1.0 and a.advantage == -math.inf


def test_keep_all_and_perfect_filter() -> None:
    keep_all = account(5, tp=40, fp=9960, fn=0, tn=0)
    assert keep_all.savings == 0.0 and keep_all.advantage == pytest.approx(0.0)  # k rounds are reused
    perfect = account(5, tp=40, fp=0, fn=0, tn=9960)
    assert perfect.expected_rounds == pytest.approx(5 + 59 * 0.004)
    assert perfect.advantage == pytest.approx(1 - (64 + 5 + 59 * 0.004) / 128)
    assert savings(5, 0.5) == pytest.approx(1 - (5 + 59 * 0.5) / 64)
    assert perfect.net_work_per_valid_share == pytest.approx((64 + 5 + 59 * 0.004) / 0.004)


def test_advantage_ci_does_not_pretend_certainty_with_zero_false_aborts() -> None:
    lo, hi = advantage_ci(5, tp=20, fp=9680, fn=0, tn=300, rng=np.random.default_rng(0))
    point = account(5, 20, 9680, 0, 300).advantage
    assert point > 0  # a 3% saving with no observed loss ...
    assert lo < point <= hi
    assert lo < 0  # ... but 0/20 observed false aborts is compatible with losing more than the savings


def test_mean_ci() -> None:
    m = mean_ci([0.5, 0.52, 0.48])
    assert m["lo"] < 0.5 < m["hi"] and m["n"] == 3
    assert math.isnan(mean_ci([0.5])["lo"])
