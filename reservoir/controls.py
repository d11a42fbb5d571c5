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
    """[L, all products L_i·L_j for i <= j]: a second-order Volterra/NG-RC expansion (10 lags -> 65 columns; 20 ->
    230; 30 -> 495). With the readout's unpenalised intercept this is the NG-RC feature vector of Gauthier et al.
    2021 (constant + linear + quadratic monomials of the last k inputs)."""
    A = np.asarray(L, dtype=float)
    i, j = np.triu_indices(A.shape[1])
    return np.concatenate([A, A[:, i] * A[:, j]], axis=1)


def time_shuffled(X: npt.ArrayLike, seed: int) -> F64:
    """Rows permuted in time (same permutation for train and test): keeps each state's distribution, destroys
    its alignment with the input history."""
    A = np.asarray(X, dtype=float)
    return A[np.random.default_rng(seed).permutation(len(A))]


def commanded_lags(commanded: npt.ArrayLike, k: int) -> F64:
    """(T, k): the last k knob values the host commanded, as of the end of each step. `commanded` is (T,) or
    (T, V) (one value per sub-window); with V sub-windows the series is read in command order and lag j is the
    j-th most recent command at the step's last sub-window. This is the input as it physically reached the device
    after the host's slew limiter (which itself remembers u(t−1)), so a device is credited only beyond it."""
    c = np.asarray(commanded, dtype=float)
    if c.ndim not in (1, 2) or c.size == 0:
        raise ValueError(f"commanded series must be a non-empty (T,) or (T, V) array, got shape {c.shape}")
    per_step = 1 if c.ndim == 1 else c.shape[1]
    flat = input_lags(c.reshape(-1), k)
    return flat[per_step - 1 :: per_step]
