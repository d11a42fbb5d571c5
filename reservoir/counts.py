"""Validation of natural-number counts, shared by the Lean twins (tpf.independence, puf.witness)."""

from __future__ import annotations

import operator
from typing import Any


def as_count(value: Any, where: str) -> int:
    """`value` as a non-negative int; `where` names it in the error (bools are refused: True is not a count)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{where} must be an integer count, got {value!r}") from None
    if count < 0:
        raise ValueError(f"{where} must be >= 0, got {count}")
    return count
