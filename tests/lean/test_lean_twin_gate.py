"""Theorem 5 (lean/Asicrc/Gate.lean) tested on the energy account the TPF gate uses."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from asicrc.reservoir.tpf.energy import FIXED_ROUNDS, N_ROUNDS, account, corner_advantage, pays
from asicrc.reservoir.tpf.stats import clopper_pearson


# The Lean definitions, transcribed (natural numbers, truncated subtraction as in Lean's Nat).
def work_scaled(fixed: int, k: int, n: int, a: int, b: int) -> int:
    return (fixed + k) * b + max(0, n - k) * a


def pays_lean(fixed: int, k: int, n: int, a: int, b: int, r: int, s: int) -> bool:
    return work_scaled(fixed, k, n, a, b) * s < (fixed + n) * b * r


fractions = st.integers(1, 400).flatmap(lambda d: st.tuples(st.integers(0, d), st.just(d)))


@given(st.integers(0, 64), fractions, fractions)
def test_python_twin_equals_the_lean_definition(k: int, keep: tuple[int, int], recall: tuple[int, int]) -> None:
    (a, b), (r, s) = keep, recall
    assert pays(k, Fraction(a, b), Fraction(r, s)) == pays_lean(FIXED_ROUNDS, k, N_ROUNDS, a, b, r, s)


@given(st.integers(0, 64), fractions, fractions, fractions, fractions)
def test_theorem5_paying_at_the_corner_implies_paying_inside(k: int, keep: tuple[int, int],
                                                             keep_hi: tuple[int, int], recall: tuple[int, int],
                                                             recall_lo: tuple[int, int]) -> None:
    (a, b), (a2, b2), (r, s), (r2, s2) = keep, keep_hi, recall, recall_lo
    assume(a * b2 <= a2 * b and r2 * s <= r * s2)  # keep <= keep_hi, recall_lo <= recall
    if pays_lean(FIXED_ROUNDS, k, N_ROUNDS, a2, b2, r2, s2):
        assert pays_lean(FIXED_ROUNDS, k, N_ROUNDS, a, b, r, s)


def test_the_theorem_needs_both_directions() -> None:
    # paying at a corner whose keep rate is *below* the true one says nothing: the true filter can fail
    assert pays(5, Fraction(1, 2), Fraction(97, 100))
    assert not pays(5, Fraction(19, 20), Fraction(97, 100))


def test_lean_examples() -> None:
    assert work_scaled(64, 5, 64, 1, 2) * 100 < (64 + 64) * 2 * 97  # 19700 < 24832
    assert not work_scaled(64, 5, 64, 1, 2) * 4 < (64 + 64) * 2 * 3  # 788 >= 768: delta = 0.5 cannot pay


@given(st.integers(0, 64), st.integers(0, 2000), st.integers(1, 2000), st.integers(0, 100_000))
def test_corner_advantage_is_the_account_at_the_corner_and_agrees_with_pays(k: int, tp: int, fn_: int,
                                                                            tn: int) -> None:
    fp = 0
    acct = account(k, tp, fp, fn_, tn)
    keep, recall = (tp + fp) / (tp + fp + fn_ + tn), tp / (tp + fn_)
    at_point = corner_advantage(k, keep, recall)
    if recall > 0:
        assert math.isclose(at_point, acct.advantage, rel_tol=1e-9, abs_tol=1e-12)
        assert (at_point > 1e-12) <= pays(k, Fraction(tp + fp, tp + fp + fn_ + tn), Fraction(tp, tp + fn_))
    lo_keep, hi_keep = clopper_pearson(tp + fp, tp + fp + fn_ + tn)
    lo_rec, hi_rec = clopper_pearson(tp, tp + fn_)
    assert lo_keep <= keep <= hi_keep and lo_rec <= recall <= hi_rec
    assert corner_advantage(k, hi_keep, lo_rec) <= at_point + 1e-12  # the corner is the pessimistic end


def test_clopper_pearson_covers_at_its_level() -> None:
    """Positive control of the bounds the gate relies on: the exact interval covers the true rate >= 95 %."""
    rng = np.random.default_rng(5)
    for p, n in ((0.02, 200), (0.5, 50), (0.97, 300)):
        draws = rng.binomial(n, p, size=2000)
        cover = np.mean([lo <= p <= hi for lo, hi in (clopper_pearson(int(x), n) for x in draws)])
        assert cover >= 0.94, (p, n, cover)
    assert clopper_pearson(0, 20)[0] == 0.0 and clopper_pearson(20, 20)[1] == 1.0
    assert math.isclose(clopper_pearson(0, 20)[1], 1 - 0.025 ** (1 / 20), rel_tol=1e-12)
