"""Chronological washout / train / test split. The only way readouts see data is through a split, so a
readout cannot be tuned on the test block by accident: ``train_rows`` is all that fitting ever reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class ChronoSplit:
    n: int  # total number of steps
    washout: int  # first steps dropped (transient of device and target)
    train_end: int  # train = [washout, train_end), test = [train_end, n)

    def __post_init__(self) -> None:
        if not 0 <= self.washout < self.train_end < self.n:
            raise ValueError(
                f"split needs 0 <= washout ({self.washout}) < train_end ({self.train_end}) < n ({self.n})"
            )

    @classmethod
    def by_fraction(cls, n: int, washout: int, train_fraction: float = 0.8) -> ChronoSplit:
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
        if washout >= n:
            raise ValueError(f"washout ({washout}) must be shorter than the run ({n} steps)")
        train_end = washout + round(train_fraction * (n - washout))
        return cls(n=n, washout=washout, train_end=min(max(train_end, washout + 1), n - 1))

    @property
    def train(self) -> slice:
        return slice(self.washout, self.train_end)

    @property
    def test(self) -> slice:
        return slice(self.train_end, self.n)

    @property
    def n_train(self) -> int:
        return self.train_end - self.washout

    @property
    def n_test(self) -> int:
        return self.n - self.train_end

    def check(self, rows: int, what: str) -> None:
        if rows != self.n:
            raise ValueError(f"{what} has {rows} rows but the split covers {self.n} steps")

    def train_rows(self, a: npt.NDArray[np.float64], what: str = "array") -> npt.NDArray[np.float64]:
        self.check(len(a), what)
        return a[self.train]

    def test_rows(self, a: npt.NDArray[np.float64], what: str = "array") -> npt.NDArray[np.float64]:
        self.check(len(a), what)
        return a[self.test]
