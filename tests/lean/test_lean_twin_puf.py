"""Theorem 4 (lean/Asicrc/Puf.lean) tested on the verifier's witness function."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asicrc.reservoir.puf.witness import distinguishing_response, response_probabilities, same_distribution

counts = st.lists(st.integers(0, 20), min_size=1, max_size=8).filter(any)


@st.composite
def pairs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    a = draw(counts)
    b = draw(st.lists(st.integers(0, 20), min_size=len(a), max_size=len(a)).filter(any))
    return a, b


@given(pairs())
def test_theorem4_witness_exists_iff_distributions_differ(pair: tuple[list[int], list[int]]) -> None:
    a, b = pair
    pa, pb = response_probabilities(a), response_probabilities(b)
    r = distinguishing_response(a, b)
    if pa != pb:
        assert r is not None and pa[r] != pb[r]  # exists_response_prob_ne, witness_sound
        assert all(pa[i] == pb[i] for i in range(r))  # the first such bin, as Lean's findDiff
    else:
        assert r is None  # witness_eq_none_iff
        assert not any(x != y for x, y in zip(pa, pb, strict=True))  # no_witness_of_same


@given(counts, st.integers(1, 9))
def test_scaled_copies_are_the_same_distribution(a: list[int], factor: int) -> None:
    assert same_distribution(a, [factor * x for x in a])
    assert distinguishing_response([factor * x for x in a], a) is None


def test_lean_examples() -> None:
    assert distinguishing_response([1, 2, 3], [2, 4, 6]) is None
    assert distinguishing_response([1, 2, 3], [1, 3, 2]) == 1
    assert response_probabilities([1, 3]) == [Fraction(1, 4), Fraction(3, 4)]


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([1, 2], [1], "same bins"),
        ([0, 0], [1, 1], "no responses"),
        ([1, -1], [1, 1], ">= 0"),
        ([1, 0.5], [1, 1], "integer count"),
        ([], [], "no response bins"),
    ],
)
def test_bad_counts_get_clear_errors(a: list[int], b: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        distinguishing_response(a, b)
