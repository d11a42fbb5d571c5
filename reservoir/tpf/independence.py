"""Exact independence and predictability on integer count tables: the Python twin of `lean/Asicrc/Predict.lean`.

A finite joint distribution of (state, observation) is given as natural-number counts ``counts[s][o]``, as the
Lean model does (docs/proofs.md). With N the total count:

* the baseline is the largest observation marginal, ``max_o sum_s counts[s][o] / N`` (always guess the most common
  observation);
* a predictor maps each state index s to an observation index ``predictor[s]``; its accuracy is
  ``sum_s counts[s][predictor[s]] / N``;
* the table is independent iff it factorizes into its marginals, ``counts[s][o] * N == row[s] * col[o]`` for all
  (s, o) (cross-multiplied, so no rounding).

Theorem 1 (`accuracy_le_baseline_of_independent`): independent => every predictor's accuracy <= baseline.
Theorem 2 (`not_independent_of_accuracy_gt_baseline`): accuracy > baseline => not independent. This is the TPF gate's
logic: beating the baseline on held-out data is evidence of dependence; failing to beat it is what independence
predicts. All results are exact `Fraction`s.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from asicrc.reservoir.counts import as_count

__all__ = [
    "CountTable",
    "baseline_accuracy",
    "best_predictor",
    "is_independent",
    "predictor_accuracy",
]

CountTable = Sequence[Sequence[int]]


def _table(counts: Any) -> list[list[int]]:
    """Validate a count table (list of rows, or a 2-D integer numpy array) into a list of lists of Python ints."""
    try:
        rows = [list(row) for row in counts]
    except TypeError:
        raise ValueError("counts must be a 2-D table of non-negative integers (rows = states)") from None
    if not rows or not rows[0]:
        raise ValueError("counts must have at least one state row and one observation column")
    width = len(rows[0])
    out: list[list[int]] = []
    for s, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"counts row {s} has {len(row)} columns, expected {width}")
        out.append([as_count(v, f"counts[{s}][{o}]") for o, v in enumerate(row)])
    if sum(map(sum, out)) == 0:
        raise ValueError("counts total is 0: an empty table is not a distribution")
    return out


def _marginals(t: list[list[int]]) -> tuple[list[int], list[int], int]:
    rows = [sum(r) for r in t]
    cols = [sum(r[o] for r in t) for o in range(len(t[0]))]
    return rows, cols, sum(rows)


def baseline_accuracy(counts: CountTable) -> Fraction:
    """Largest marginal mass of the observation: the accuracy of always guessing the most common observation."""
    t = _table(counts)
    _, cols, total = _marginals(t)
    return Fraction(max(cols), total)


def predictor_accuracy(counts: CountTable, predictor: Sequence[int]) -> Fraction:
    """Probability that ``predictor[s] == o`` under the table: ``sum_s counts[s][predictor[s]] / N``."""
    t = _table(counts)
    if len(predictor) != len(t):
        raise ValueError(f"predictor must give one observation per state: {len(t)} states, got {len(predictor)}")
    width = len(t[0])
    hits = 0
    for s, o in enumerate(predictor):
        try:
            io = operator.index(o)
        except TypeError:
            raise ValueError(f"predictor[{s}] must be an observation index, got {o!r}") from None
        if not 0 <= io < width:
            raise ValueError(f"predictor[{s}] = {io} is not an observation index (0..{width - 1})")
        hits += t[s][io]
    return Fraction(hits, sum(map(sum, t)))


def best_predictor(counts: CountTable) -> list[int]:
    """The Bayes predictor: for each state the most frequent observation (ties -> lowest index)."""
    t = _table(counts)
    # max() keeps the first maximum, so ties go to the lowest observation index
    return [max(range(len(row)), key=row.__getitem__) for row in t]


def is_independent(counts: CountTable) -> bool:
    """True iff ``counts[s][o] * N == row[s] * col[o]`` for every cell (exact factorization into marginals)."""
    t = _table(counts)
    rows, cols, total = _marginals(t)
    return all(t[s][o] * total == rows[s] * cols[o] for s in range(len(t)) for o in range(len(cols)))
