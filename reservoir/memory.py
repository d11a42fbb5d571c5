"""Linear memory capacity (Jaeger 2001; Dambre et al. 2012) measured on held-out data.

C_k = squared correlation between u(t−k) and its ridge reconstruction from the state on the test block; MC = Σ_k C_k.
Held-out r² of a useless state is ≈ 1/T_test, so capacities below 4/T_test count as 0. The readout is the same
train-only CV ridge as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .readouts import fit_ridge_cv
from .split import ChronoSplit

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MemoryCapacity:
    total: float  # Σ_{k>=0} C_k
    per_lag: F64  # C_k for k = 0..kmax

    def as_dict(self) -> dict[str, object]:
        return {"total": self.total, "per_lag": [float(c) for c in self.per_lag]}


def linear_memory_capacity(states: npt.ArrayLike, u: npt.ArrayLike, split: ChronoSplit,
                           kmax: int = 40) -> MemoryCapacity:
    X = np.asarray(states, dtype=float)
    x = np.asarray(u, dtype=float)
    if split.washout < kmax:
        raise ValueError(f"memory capacity up to lag {kmax} needs a washout >= {kmax}, got {split.washout}")
    z = (x - x.mean()) / (x.std() or 1.0)
    targets = np.zeros((len(z), kmax + 1))
    for k in range(kmax + 1):
        targets[k:, k] = z[: len(z) - k]
    fit = fit_ridge_cv(X, targets, split)
    pred = fit.predict(split.test_rows(X))
    true = split.test_rows(targets)
    cap = np.zeros(kmax + 1)
    for k in range(kmax + 1):
        p = pred[:, k]
        if np.std(p) > 0:
            cap[k] = np.corrcoef(p, true[:, k])[0, 1] ** 2
    cap[cap < 4.0 / split.n_test] = 0.0
    return MemoryCapacity(total=float(cap.sum()), per_lag=cap)
