"""Linear readouts: ridge with α chosen by forward-chaining CV on the training block only, and online RLS.

Ridge fitting works on Gram matrices: the training block is cut into K+1 contiguous blocks whose XᵀX, Xᵀy and
sums are computed once; fold k trains on blocks [0, k) (cumulative sums, no recomputation) and validates on
block k after a gap of `gap` steps (so the validation block does not start inside the training block's
memory). One eigendecomposition per fold gives the validation error for every α at O(N²) each. The final fit
reuses the summed Gram of the whole training block. Solutions equal scikit-learn's ``Ridge`` (centred,
unpenalised intercept) with ``alpha = α · mean(diag(XcᵀXc))``, which tests check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg

from .split import ChronoSplit

DEFAULT_ALPHAS = np.logspace(-9, 2, 12)
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class RidgeFit:
    """A fitted ridge readout; features are standardised with training statistics inside ``predict``."""

    mean: F64
    scale: F64
    coef: F64  # (n_features,) or (n_features, n_targets) on standardised features
    intercept: F64 | float
    alpha: float  # relative α chosen by CV (λ = α · mean diag of the centred Gram)
    lam: float  # absolute penalty on standardised features (sklearn's `alpha`)
    cv_mse: F64  # validation MSE per α of the grid (mean over folds)
    alphas: F64

    def predict(self, X: npt.ArrayLike) -> F64:
        Z = (np.asarray(X, dtype=float) - self.mean) / self.scale
        return np.asarray(Z @ self.coef + self.intercept, dtype=float)


@dataclass(slots=True)
class _Block:
    n: int
    sx: F64
    sy: F64
    sxx: F64
    sxy: F64


def _block_stats(Z: F64, Y: F64) -> _Block:
    return _Block(len(Z), Z.sum(0), Y.sum(0), Z.T @ Z, Z.T @ Y)


def _sum_blocks(blocks: list[_Block]) -> _Block:
    out = _Block(0, 0 * blocks[0].sx, 0 * blocks[0].sy, 0 * blocks[0].sxx, 0 * blocks[0].sxy)
    for b in blocks:
        out.n += b.n
        out.sx = out.sx + b.sx
        out.sy = out.sy + b.sy
        out.sxx = out.sxx + b.sxx
        out.sxy = out.sxy + b.sxy
    return out


def _centred(b: _Block) -> tuple[F64, F64, F64, F64]:
    mx, my = b.sx / b.n, b.sy / b.n
    return b.sxx - b.n * np.outer(mx, mx), b.sxy - b.n * np.outer(mx, my), mx, my


def _as_2d(y: npt.ArrayLike, what: str) -> F64:
    a = np.asarray(y, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got shape {a.shape}")
    return a


def fit_ridge_cv(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    split: ChronoSplit,
    alphas: npt.ArrayLike = DEFAULT_ALPHAS,
    n_folds: int = 5,
    gap: int = 20,
) -> RidgeFit:
    """Fit ridge on ``split.train`` rows; α by forward-chaining CV inside those rows. Test rows are never read."""
    Xa = _as_2d(X, "features")
    Ya = _as_2d(y, "target")
    single = np.asarray(y).ndim == 1
    Xtr = split.train_rows(Xa, "features")
    Ytr = split.train_rows(Ya, "target")
    if not (np.all(np.isfinite(Xtr)) and np.all(np.isfinite(Ytr))):
        raise ValueError("training features or targets contain NaN/inf")
    grid = np.asarray(alphas, dtype=float).ravel()
    if grid.size == 0 or np.any(grid <= 0):
        raise ValueError("alphas must be a non-empty list of positive numbers")
    if n_folds < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds}")
    mean = Xtr.mean(0)
    scale = Xtr.std(0)
    scale[scale == 0] = 1.0  # a constant column stays constant (zero after centring) instead of dividing by 0
    Z = (Xtr - mean) / scale
    m = len(Z)
    edges = np.linspace(0, m, n_folds + 2).astype(int)
    if np.any(np.diff(edges) <= gap):
        raise ValueError(f"training block of {m} steps is too short for {n_folds} folds with gap {gap}")
    blocks = [_block_stats(Z[a:b], Ytr[a:b]) for a, b in itertools.pairwise(edges)]
    sse = np.zeros(grid.size)
    count = 0
    for k in range(1, n_folds + 1):
        C, c, mx, my = _centred(_sum_blocks(blocks[:k]))
        evals, V = np.linalg.eigh(C)
        evals = np.clip(evals, 0.0, None)
        scale_k = float(np.trace(C)) / len(C) or 1.0
        proj = V.T @ c  # (N, targets)
        Zv = Z[edges[k] + gap : edges[k + 1]] - mx
        Yv = Ytr[edges[k] + gap : edges[k + 1]] - my
        ZvV = Zv @ V
        for i, a in enumerate(grid):
            pred = ZvV @ (proj / (evals + a * scale_k)[:, None])
            sse[i] += float(np.sum((Yv - pred) ** 2) / Ytr.shape[1])
        count += len(Zv)
    cv_mse = sse / count
    best = int(np.argmin(cv_mse))
    C, c, mx, my = _centred(_sum_blocks(blocks))
    lam = float(grid[best] * (float(np.trace(C)) / len(C) or 1.0))
    coef = scipy.linalg.solve(C + lam * np.eye(len(C)), c, assume_a="pos")
    intercept = my - mx @ coef
    return RidgeFit(
        mean=mean, scale=scale, coef=coef[:, 0] if single else coef,
        intercept=float(intercept[0]) if single else intercept,
        alpha=float(grid[best]), lam=lam, cv_mse=cv_mse, alphas=grid,
    )


class RLSReadout:
    """Recursive least squares with exponential forgetting, O(N²) per update, for streaming use.

    With forgetting = 1 the weights after T updates equal ridge on those T samples with penalty `alpha`
    (bias included in the penalty, since P starts at I/alpha for all weights).
    """

    SYMMETRISE_EVERY = 256  # P drifts from symmetric over long runs; re-symmetrise periodically

    def __init__(self, n_features: int, forgetting: float = 0.999, alpha: float = 1e-2,
                 fit_bias: bool = True) -> None:
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        if not 0.0 < forgetting <= 1.0:
            raise ValueError(f"forgetting factor must be in (0, 1], got {forgetting}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.n_features = n_features
        self.fit_bias = fit_bias
        self.forgetting = forgetting
        dim = n_features + (1 if fit_bias else 0)
        self.P = np.eye(dim) / alpha
        self.w = np.zeros(dim)
        self.updates = 0

    def _z(self, x: npt.ArrayLike) -> F64:
        v = np.asarray(x, dtype=float).ravel()
        if v.size != self.n_features:
            raise ValueError(f"RLS expects {self.n_features} features, got {v.size}")
        return np.append(v, 1.0) if self.fit_bias else v

    def update(self, x: npt.ArrayLike, y: float) -> float:
        """Learn from one (x, y); returns the a-priori prediction (made before seeing y)."""
        z = self._z(x)
        Pz = self.P @ z
        prior = float(self.w @ z)
        gain = Pz / (self.forgetting + float(z @ Pz))
        self.w += gain * (float(y) - prior)
        self.P -= np.outer(gain, Pz)
        self.P /= self.forgetting
        self.updates += 1
        if self.updates % self.SYMMETRISE_EVERY == 0:
            self.P = 0.5 * (self.P + self.P.T)
        return prior

    def predict(self, X: npt.ArrayLike) -> F64:
        A = np.atleast_2d(np.asarray(X, dtype=float))
        if A.shape[1] != self.n_features:
            raise ValueError(f"RLS expects {self.n_features} features, got {A.shape[1]}")
        if self.fit_bias:
            return np.asarray(A @ self.w[:-1] + self.w[-1], dtype=float)
        return np.asarray(A @ self.w, dtype=float)
