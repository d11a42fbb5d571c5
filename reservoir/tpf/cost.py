"""Early-abort cost model: the Python twin of `lean/Asicrc/Cost.lean` (docs/proofs.md).

A nonce is hashed for `k` of `n` rounds, then a classifier decides: abort (cost k) or continue (cost n) with
probability `p_continue` = c. Expected rounds per nonce are ``k + (n - k) * c`` and the savings against always
running n rounds are ``1 - expected / n``. The Lean theorems state (cross-multiplied over the naturals):

* savings <= 1 - k/n, with equality iff c = 0 (when k < n): the paper's "92.19 % = 1 - 5/64" is the savings of a
  filter that aborts *everything*, i.e. a bound, not an achievement;
* with a keep rate r (a fraction r of nonces always run to n rounds regardless of the classifier),
  savings <= (1 - r)(1 - k/n).

Everything is computed exactly with `fractions.Fraction` (floats are converted exactly), so a property test can
check the statements with `==`/`<=` and no tolerance. Callers wanting floats use ``float(...)``.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction
from numbers import Rational

__all__ = [
    "expected_rounds",
    "expected_rounds_with_keep_rate",
    "savings",
    "savings_bound",
    "savings_with_keep_rate",
    "savings_with_keep_rate_bound",
]


def _rounds(k: int, n: int) -> tuple[int, int]:
    values = []
    for name, v in (("k", k), ("n", n)):
        try:
            if isinstance(v, bool):
                raise TypeError
            values.append(operator.index(v))
        except TypeError:
            raise ValueError(f"{name} must be an integer number of rounds, got {v!r}") from None
    k, n = values
    if n < 1:
        raise ValueError(f"n (total rounds) must be >= 1, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k (rounds before the abort decision) must satisfy 0 <= k <= n={n}, got {k}")
    return k, n


def _probability(value: float | Fraction | int, name: str) -> Fraction:
    if isinstance(value, Rational):
        p = Fraction(value)
    else:
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
        if not math.isfinite(f):
            raise ValueError(f"{name} must be a finite probability in [0, 1], got {value!r}")
        p = Fraction(f)
    if not 0 <= p <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return p


def expected_rounds(k: int, n: int, p_continue: float | Fraction) -> Fraction:
    """Expected rounds per nonce: ``k + (n - k) * p_continue`` (Lean: `expectedRoundsScaled`, scaled by c's denominator)."""
    k, n = _rounds(k, n)
    c = _probability(p_continue, "p_continue")
    return k + (n - k) * c


def savings(k: int, n: int, p_continue: float | Fraction) -> Fraction:
    """Fraction of rounds saved against always computing n rounds: ``1 - expected_rounds / n``."""
    k, n = _rounds(k, n)
    return 1 - expected_rounds(k, n, p_continue) / n


def savings_bound(k: int, n: int) -> Fraction:
    """The largest possible savings, ``1 - k/n``, reached only when nothing continues (Lean: `savings_le_bound`)."""
    k, n = _rounds(k, n)
    return 1 - Fraction(k, n)


def expected_rounds_with_keep_rate(k: int, n: int, p_continue: float | Fraction,
                                   keep_rate: float | Fraction) -> Fraction:
    """Expected rounds when a fraction `keep_rate` of nonces bypasses the filter: ``r*n + (1-r)*expected_rounds``."""
    k, n = _rounds(k, n)
    r = _probability(keep_rate, "keep_rate")
    return r * n + (1 - r) * expected_rounds(k, n, p_continue)


def savings_with_keep_rate(k: int, n: int, p_continue: float | Fraction, keep_rate: float | Fraction) -> Fraction:
    """Savings with a keep rate: ``1 - expected_rounds_with_keep_rate / n``."""
    k, n = _rounds(k, n)
    return 1 - expected_rounds_with_keep_rate(k, n, p_continue, keep_rate) / n


def savings_with_keep_rate_bound(k: int, n: int, keep_rate: float | Fraction) -> Fraction:
    """Upper bound ``(1 - r)(1 - k/n)`` on `savings_with_keep_rate` (Lean: `savings_with_keep_rate_le`)."""
    k, n = _rounds(k, n)
    r = _probability(keep_rate, "keep_rate")
    return (1 - r) * (1 - Fraction(k, n))
