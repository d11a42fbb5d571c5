"""Input-only feature sets for the controls: a reservoir must beat these to claim it computes anything."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def input_lags(u: npt.ArrayLike, k: int) -> F64:
    """(T, k): column j is u(t − j); values before the start are 0 (washout removes those rows)."""
    x = np.asarray(u, dtype=float)
    if k < 1:
        raise ValueError(f"number of lags must be >= 1, got {k}")
    out = np.zeros((len(x), k))
    for j in range(k):
        out[j:, j] = x[: len(x) - j]
    return out


def quadratic_features(L: npt.ArrayLike) -> F64:
    """[L, all products L_i·L_j for i <= j]: a second-order Volterra/NG-RC expansion (10 lags -> 65 columns)."""
    A = np.asarray(L, dtype=float)
    i, j = np.triu_indices(A.shape[1])
    return np.concatenate([A, A[:, i] * A[:, j]], axis=1)


def time_shuffled(X: npt.ArrayLike, seed: int) -> F64:
    """Rows permuted in time (same permutation for train and test): keeps each state's distribution, destroys
    its alignment with the input history."""
    A = np.asarray(X, dtype=float)
    return A[np.random.default_rng(seed).permutation(len(A))]
