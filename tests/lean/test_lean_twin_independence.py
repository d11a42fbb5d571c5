"""Theorems 1 and 2 (lean/Asicrc/Predict.lean) tested on the functions the TPF gate uses."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asicrc.reservoir.tpf.independence import (
    baseline_accuracy,
    best_predictor,
    is_independent,
    predictor_accuracy,
)

small = st.integers(min_value=0, max_value=12)


@st.composite
def independent_tables(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    """Outer products of two marginals (always independent) and a predictor."""
    rows = draw(st.lists(small, min_size=1, max_size=5).filter(any))
    cols = draw(st.lists(small, min_size=1, max_size=5).filter(any))
    predictor = draw(st.lists(st.integers(0, len(cols) - 1), min_size=len(rows), max_size=len(rows)))
    return [[r * c for c in cols] for r in rows], predictor


@st.composite
def any_tables(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    n_s = draw(st.integers(1, 4))
    n_o = draw(st.integers(1, 4))
    table = draw(st.lists(st.lists(small, min_size=n_o, max_size=n_o), min_size=n_s, max_size=n_s)
                 .filter(lambda t: sum(map(sum, t)) > 0))
    predictor = draw(st.lists(st.integers(0, n_o - 1), min_size=n_s, max_size=n_s))
    return table, predictor


@given(independent_tables())
def test_theorem1_independent_tables_bound_every_predictor(case: tuple[list[list[int]], list[int]]) -> None:
    table, predictor = case
    assert is_independent(table)
    assert predictor_accuracy(table, predictor) <= baseline_accuracy(table)
    # the Bayes predictor reaches the bound exactly: under independence the baseline is the best possible
    assert predictor_accuracy(table, best_predictor(table)) == baseline_accuracy(table)


@given(any_tables())
@settings(max_examples=300)
def test_theorem2_beating_the_baseline_means_dependent(case: tuple[list[list[int]], list[int]]) -> None:
    table, predictor = case
    if predictor_accuracy(table, predictor) > baseline_accuracy(table):
        assert not is_independent(table)
    # contrapositive form, on the strongest predictor
    if is_independent(table):
        assert predictor_accuracy(table, best_predictor(table)) <= baseline_accuracy(table)


def test_lean_example_correlated_run() -> None:
    # lean/Asicrc/Examples.lean: hits 2 of 2 with the identity predictor, baseline 1 of 2
    table = [[1, 0], [0, 1]]
    assert predictor_accuracy(table, [0, 1]) == 1
    assert baseline_accuracy(table) == Fraction(1, 2)
    assert not is_independent(table)


def test_dependent_table_is_detected_and_accepts_numpy() -> None:
    table = np.array([[5, 1], [1, 5]], dtype=np.int64)
    assert not is_independent(table)
    assert predictor_accuracy(table, np.array([0, 1])) == Fraction(10, 12)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ([], "at least one"),
        ([[1, 2], [3]], "row 1 has 1 columns"),
        ([[1, -2]], "must be >= 0"),
        ([[1.5, 2]], "integer count"),
        ([[0, 0]], "total is 0"),
        (5, "2-D table"),
    ],
)
def test_bad_tables_get_clear_errors(table: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        baseline_accuracy(table)


def test_bad_predictor_gets_clear_error() -> None:
    with pytest.raises(ValueError, match="one observation per state"):
        predictor_accuracy([[1, 2]], [0, 1])
    with pytest.raises(ValueError, match="not an observation index"):
        predictor_accuracy([[1, 2]], [2])
