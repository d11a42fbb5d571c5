"""Exact distinguishability witness for two devices' response counts: the Python twin of `lean/Asicrc/Puf.lean`.

At one challenge each device's responses are counted into the same bins. Bin r has the same probability for both
devices iff ``a[r] * N_b == b[r] * N_a`` (cross-multiplied, N = totals). `distinguishing_response` returns the
first bin where that fails (Lean: `Puf.witness`), or None when the two distributions are identical
(Lean: `witness_eq_none_iff`, `exists_response_prob_ne`, `no_witness_of_same`).

Why the verifier does not decide with it: on raw counts a witness says only that two empirical histograms
differ, never that two devices do (sampling noise alone makes two sessions of one device differ almost surely).
The theorem is the reason a PUF is possible at all (different distributions are distinguishable); the verifier
(`asicrc.reservoir.puf.verify`) decides with a distance threshold calibrated on training sessions, and
`asicrc puf evaluate` measures how often that decision is wrong (FAR/FRR/EER).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from asicrc.reservoir.counts import as_count

__all__ = ["distinguishing_response", "response_probabilities", "same_distribution"]


def _counts(values: Sequence[int], name: str) -> list[int]:
    return [as_count(v, f"{name}[{i}]") for i, v in enumerate(values)]


def _pair(a: Sequence[int], b: Sequence[int]) -> tuple[list[int], list[int]]:
    ca, cb = _counts(a, "counts_a"), _counts(b, "counts_b")
    if len(ca) != len(cb):
        raise ValueError(f"both devices must be counted over the same bins: {len(ca)} vs {len(cb)} bins")
    if not ca:
        raise ValueError("no response bins")
    if sum(ca) == 0 or sum(cb) == 0:
        raise ValueError("a device with no responses at all has no response distribution")
    return ca, cb


def response_probabilities(counts: Sequence[int]) -> list[Fraction]:
    """Exact response distribution ``counts[r] / N``."""
    c = _counts(counts, "counts")
    total = sum(c)
    if total == 0:
        raise ValueError("a device with no responses at all has no response distribution")
    return [Fraction(v, total) for v in c]


def distinguishing_response(counts_a: Sequence[int], counts_b: Sequence[int]) -> int | None:
    """First bin r with ``P_a(r) != P_b(r)`` (exact), or None if the two response distributions are identical."""
    ca, cb = _pair(counts_a, counts_b)
    na, nb = sum(ca), sum(cb)
    for r, (x, y) in enumerate(zip(ca, cb, strict=True)):
        if x * nb != y * na:
            return r
    return None


def same_distribution(counts_a: Sequence[int], counts_b: Sequence[int]) -> bool:
    """True iff every bin has the same probability for both devices."""
    return distinguishing_response(counts_a, counts_b) is None
