"""Theorem 3 (lean/Asicrc/Cost.lean) tested on the cost model the TPF energy account uses."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from asicrc.reservoir.tpf.cost import (
    expected_rounds,
    expected_rounds_with_keep_rate,
    savings,
    savings_bound,
    savings_with_keep_rate,
    savings_with_keep_rate_bound,
)


# The Lean definitions, transcribed (natural numbers, truncated subtraction as in Lean's Nat).
def nat_sub(x: int, y: int) -> int:
    return max(0, x - y)


def rounds_scaled(k: int, n: int, a: int, b: int) -> int:
    return k * b + nat_sub(n, k) * a


def saved_scaled(k: int, n: int, a: int, b: int) -> int:
    return nat_sub(n * b, rounds_scaled(k, n, a, b))


def saved_with_keep_scaled(k: int, n: int, a: int, b: int, p: int, q: int) -> int:
    return nat_sub(q * (n * b), p * (n * b) + nat_sub(q, p) * rounds_scaled(k, n, a, b))


@st.composite
def setups(draw: st.DrawFn) -> tuple[int, int, int, int, int, int]:
    n = draw(st.integers(1, 128))
    k = draw(st.integers(0, n))
    b = draw(st.integers(1, 1000))
    a = draw(st.integers(0, b))
    q = draw(st.integers(1, 1000))
    p = draw(st.integers(0, q))
    return k, n, a, b, p, q


@given(setups())
def test_python_twin_equals_the_lean_definitions(s: tuple[int, int, int, int, int, int]) -> None:
    k, n, a, b, p, q = s
    c, r = Fraction(a, b), Fraction(p, q)
    assert expected_rounds(k, n, c) == Fraction(rounds_scaled(k, n, a, b), b) == k + (n - k) * c
    assert savings(k, n, c) == Fraction(saved_scaled(k, n, a, b), n * b)
    assert savings_with_keep_rate(k, n, c, r) == Fraction(saved_with_keep_scaled(k, n, a, b, p, q), q * n * b)
    assert expected_rounds_with_keep_rate(k, n, c, r) == r * n + (1 - r) * expected_rounds(k, n, c)


@given(setups())
def test_theorem3_savings_bounds(s: tuple[int, int, int, int, int, int]) -> None:
    k, n, a, b, p, q = s
    c, r = Fraction(a, b), Fraction(p, q)
    # savedScaled_eq, savings_le_bound, savings_with_keep_rate_le (Nat, cross-multiplied)
    assert saved_scaled(k, n, a, b) == (n - k) * (b - a)
    assert saved_scaled(k, n, a, b) <= (n - k) * b
    assert saved_with_keep_scaled(k, n, a, b, p, q) <= (q - p) * ((n - k) * b)
    # the same statements on the Python functions (exact Fractions)
    assert savings(k, n, c) <= savings_bound(k, n) == 1 - Fraction(k, n)
    assert savings_with_keep_rate(k, n, c, r) <= savings_with_keep_rate_bound(k, n, r)
    assert savings_with_keep_rate_bound(k, n, r) == (1 - r) * (1 - Fraction(k, n))


@given(setups())
def test_theorem3_equality_iff_nothing_continues(s: tuple[int, int, int, int, int, int]) -> None:
    k, n, a, b, _, _ = s
    assume(k < n)
    assert (savings(k, n, Fraction(a, b)) == savings_bound(k, n)) == (a == 0)
    assert (saved_scaled(k, n, a, b) == (n - k) * b) == (a == 0)


def test_lean_examples_paper_figure_is_the_bound() -> None:
    assert savings(5, 64, 0) == Fraction(59, 64)  # the paper's 92.19 %: abort everything
    assert float(savings(5, 64, 0)) == pytest.approx(0.921875)
    assert savings(5, 64, Fraction(1, 2)) == Fraction(59, 128) < savings_bound(5, 64)


def test_floats_are_converted_exactly() -> None:
    assert savings(5, 64, 0.25) == 1 - (5 + 59 * Fraction(1, 4)) / 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 0, 0.5), "n .total rounds. must be >= 1"),
        ((65, 64, 0.5), "0 <= k <= n"),
        ((-1, 64, 0.5), "0 <= k <= n"),
        ((5.0, 64, 0.5), "k must be an integer"),
        ((5, 64, 1.5), "p_continue must be a probability"),
        ((5, 64, float("nan")), "finite probability"),
        ((5, 64, "x"), "p_continue must be a probability"),
    ],
)
def test_bad_arguments_get_clear_errors(args: tuple[object, object, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        savings(*args)


def test_bad_keep_rate() -> None:
    with pytest.raises(ValueError, match="keep_rate must be a probability"):
        savings_with_keep_rate(5, 64, 0.5, -0.1)
