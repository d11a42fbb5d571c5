"""Linear readouts: ridge with α chosen by forward-chaining CV on the training block only, and online RLS.

Ridge works on sufficient statistics: the training block is cut into K+1 contiguous blocks, and each block into a
short gap part (its first `gap` rows) and a validation part; XᵀX, Xᵀy, yᵀy and sums of every part are computed in
one pass over the data. Fold k trains on blocks [0, k) (summed statistics, no recomputation) and validates on the
validation part of block k, so validation never starts inside the memory of the rows it was trained on. For every
α a Cholesky solve gives the weights, and the validation error comes from the validation part's statistics at
O(N²) (no pass over its rows). The final fit reuses the summed statistics of the whole training block. Solutions
equal scikit-learn's ``Ridge`` (centred, unpenalised intercept) with ``alpha = λ = α · mean(diag(XcᵀXc))``, which
tests check.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg
from threadpoolctl import threadpool_limits

from .split import ChronoSplit

DEFAULT_ALPHAS = np.logspace(-9, 2, 12)
DEFAULT_GAP = 20
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
    cv_mse: F64  # validation MSE per α of the grid (pooled over folds)
    alphas: F64

    def predict(self, X: npt.ArrayLike) -> F64:
        Z = (np.asarray(X, dtype=float) - self.mean) / self.scale
        return np.asarray(Z @ self.coef + self.intercept, dtype=float)


@dataclass(slots=True)
class _Stats:
    """Sufficient statistics of a set of rows: count, sums, XᵀX, Xᵀy and yᵀy (per target)."""

    n: int
    sx: F64
    sy: F64
    sxx: F64
    sxy: F64
    syy: F64

    @classmethod
    def of(cls, Z: F64, Y: F64) -> _Stats:
        return cls(len(Z), Z.sum(0), Y.sum(0), Z.T @ Z, Z.T @ Y, np.einsum("ij,ij->j", Y, Y))

    def __add__(self, o: _Stats) -> _Stats:
        return _Stats(self.n + o.n, self.sx + o.sx, self.sy + o.sy, self.sxx + o.sxx, self.sxy + o.sxy,
                      self.syy + o.syy)

    def standardise(self, scale: F64) -> None:
        """Rescale statistics of centred features to those of features divided by `scale`."""
        self.sx = self.sx / scale
        self.sxx = self.sxx / np.outer(scale, scale)
        self.sxy = self.sxy / scale[:, None]

    def centred(self) -> tuple[F64, F64, F64, F64]:
        """(Xc'Xc, Xc'yc, mean x, mean y) about this set's own means."""
        mx, my = self.sx / self.n, self.sy / self.n
        return self.sxx - self.n * np.outer(mx, mx), self.sxy - self.n * np.outer(mx, my), mx, my

    def residual_form(self, mx: F64, my: F64) -> tuple[F64, F64, float]:
        """(Gxx, Gxy, Σ gyy) about (mx, my): the quadratic form giving these rows' SSE for any coefficients.
        Independent of α, so one fold computes it once for the whole α grid."""
        n = self.n
        gxx = self.sxx - np.outer(self.sx, mx) - np.outer(mx, self.sx) + n * np.outer(mx, mx)
        gxy = self.sxy - np.outer(self.sx, my) - np.outer(mx, self.sy) + n * np.outer(mx, my)
        gyy = self.syy - 2 * my * self.sy + n * my * my
        return gxx, gxy, float(gyy.sum())

    def sse(self, coef: F64, mx: F64, my: F64) -> float:
        """Σ over these rows and all targets of (y − my − (x − mx)·coef)², from the statistics alone."""
        return _sse(self.residual_form(mx, my), coef)


def _sse(form: tuple[F64, F64, float], coef: F64) -> float:
    gxx, gxy, gyy = form
    total = gyy - 2 * float(np.einsum("ij,ij->", coef, gxy)) + float(np.einsum("ij,ij->", coef, gxx @ coef))
    return max(total, 0.0)


def _as_2d(y: npt.ArrayLike, what: str) -> F64:
    a = np.asarray(y, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{what} must be 1-D or 2-D, got shape {a.shape}")
    return a


def _solve(C: F64, c: F64, lam: float) -> F64:
    A = C + lam * np.eye(len(C))
    try:
        return np.asarray(scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, check_finite=False), c,
                                                 check_finite=False))
    except np.linalg.LinAlgError:  # numerically not positive definite at a tiny λ: symmetric solver instead
        return np.asarray(scipy.linalg.solve(A, c, assume_a="sym", check_finite=False))


def _mean_diag(C: F64) -> float:
    return float(np.trace(C)) / len(C) or 1.0


def fit_ridge_cv(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    split: ChronoSplit,
    alphas: npt.ArrayLike = DEFAULT_ALPHAS,
    n_folds: int = 5,
    gap: int | None = None,
) -> RidgeFit:
    """Fit ridge on ``split.train`` rows; α by forward-chaining CV inside those rows. Test rows are never read."""
    return _fit_ridge_cv(X, y, split, alphas, n_folds, gap)


def _fit_ridge_cv(X: npt.ArrayLike, y: npt.ArrayLike, split: ChronoSplit, alphas: npt.ArrayLike, n_folds: int,
                  gap: int | None) -> RidgeFit:
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
    m = len(Xtr)
    if gap is None:  # 20 steps (NARMA-10's memory and then some), less only for very short training blocks
        gap = min(DEFAULT_GAP, m // (n_folds + 1) // 4)
    edges = np.linspace(0, m, n_folds + 2).astype(int)
    if np.any(np.diff(edges) <= gap + 1):
        raise ValueError(f"training block of {m} steps is too short for {n_folds} folds with gap {gap}")
    # centre first (features such as a hashrate of 4e11 varying by 1e9 would lose their variance to cancellation
    # in raw XᵀX), gather statistics in one pass, then scale to unit variance using the Gram diagonal
    mean = Xtr.mean(0)
    Z = Xtr - mean
    gap_parts = [_Stats.of(Z[a : a + gap], Ytr[a : a + gap]) for a in edges[:-1]]
    val_parts = [_Stats.of(Z[a + gap : b], Ytr[a + gap : b]) for a, b in itertools.pairwise(edges)]
    blocks = [g + v for g, v in zip(gap_parts, val_parts, strict=True)]
    total = blocks[0]
    for b in blocks[1:]:
        total = total + b
    scale = np.sqrt(np.clip(np.diag(total.sxx) / m - (total.sx / m) ** 2, 0.0, None))
    scale[scale <= 1e-12 * (np.abs(mean) + 1.0)] = 1.0  # a constant column stays constant (zero after centring)
    for part in (*gap_parts, *val_parts, *blocks):
        part.standardise(scale)
    sse = np.zeros(grid.size)
    count = 0
    train = blocks[0]
    # Dozens of small factorisations: one BLAS thread beats several competing for two shared cores (measured
    # 2 ms vs 50 ms per 500x500 Cholesky under load). The one big pass above keeps every thread.
    with threadpool_limits(limits=1, user_api="blas"):
        for k in range(1, n_folds + 1):
            C, c, mx, my = train.centred()
            scale_k = _mean_diag(C)
            form = val_parts[k].residual_form(mx, my)
            for i, a in enumerate(grid):
                sse[i] += _sse(form, _solve(C, c, a * scale_k))
            count += val_parts[k].n
            train = train + blocks[k]
    cv_mse = sse / (count * Ytr.shape[1])
    best = int(np.argmin(cv_mse))
    C, c, mx, my = train.centred()  # all K+1 blocks: the whole training block
    lam = float(grid[best] * _mean_diag(C))
    coef = _solve(C, c, lam)
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
