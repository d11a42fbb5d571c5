"""Information processing capacity (Dambre, Massar, Bienstman & Schrauwen, Sci. Rep. 2:514, 2012).

For an i.i.d. input mapped to v ∈ [−1, 1] (uniform for NARMA's u ~ U[0, 0.5]), the targets are products of
Legendre polynomials of delayed inputs, z(t) = Π_k P_{d_k}(v(t − k)), which are orthogonal under the input
distribution; a target's degree is Σ d_k. The capacity of a state X for z is the share of z's variance a linear
readout on X reproduces: C[z] = ‖P z‖² / ‖z‖² with P the projection on the centred state's column space (computed
from a thin SVD, as in Kubota, Takahashi & Nakajima, PRR 3:043135, 2021). Dambre's theorem: summed over a complete
orthogonal target family, the capacities of a fading-memory system total its number of linearly independent state
variables; a delay line of N taps has linear capacity N and no nonlinear capacity.

Capacities are in-sample, so a state unrelated to z still scores ≈ rank/T (a Beta(r/2, (T−r)/2) variable). The
noise floor: the same targets are rebuilt from a time-shuffled input (independent of the state, same marginal),
and every capacity at or below the largest such null capacity of its degree is set to 0 (≥ MIN_NULL_DRAWS null
draws per degree). What is counted is a lower bound on the total: only delays below each degree's window are
enumerated, and true capacities that small are cut with the noise.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
MIN_NULL_DRAWS = 200
DEFAULT_WINDOWS = (100, 30, 12)  # ESN-500 remembers u(t−k) past k = 40 (its delays 0..39 all reach C ≈ 1)
# the shuffled null misses the extra variance of targets that share delays with products in the state (e.g.
# P2(v(t−a))·v(t−b) on quadratic features of v(t−a), v(t−b)): measured up to ~1.8x the null's maximum, so the cut
# is twice that maximum
DEFAULT_NULL_SCALE = 2.0
RANK_TOL = 1e-10  # singular values below this share of the largest count as rank-deficient directions


@dataclass(frozen=True, slots=True)
class IpcConfig:
    windows: tuple[int, ...] = DEFAULT_WINDOWS  # delays 0..w−1 enumerated for degree 1, 2, 3 (degree = index + 1)
    u_low: float = 0.0  # the input's range (NARMA-10: U[0, 0.5]), mapped to [−1, 1]
    u_high: float = 0.5
    null_seed: int = 0
    null_scale: float = DEFAULT_NULL_SCALE  # the cut is this multiple of the largest null capacity (see the module docstring)

    def __post_init__(self) -> None:
        if not self.windows or any(w < 1 for w in self.windows):
            raise ValueError(f"IPC windows must be >= 1 for every degree, got {self.windows}")
        if not self.u_high > self.u_low:
            raise ValueError(f"IPC input range needs u_high > u_low, got [{self.u_low}, {self.u_high}]")

    def as_dict(self) -> dict[str, object]:
        return {"windows": list(self.windows), "u_low": self.u_low, "u_high": self.u_high,
                "null_seed": self.null_seed, "null_scale": self.null_scale}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> IpcConfig:
        """The inverse of as_dict (a replay rebuilds the configuration the recording was analysed with)."""
        return cls(windows=tuple(int(x) for x in d.get("windows", DEFAULT_WINDOWS)),
                   u_low=float(d.get("u_low", 0.0)), u_high=float(d.get("u_high", 0.5)),
                   null_seed=int(d.get("null_seed", 0)), null_scale=float(d.get("null_scale", DEFAULT_NULL_SCALE)))

    def within(self, washout: int) -> IpcConfig:
        """This configuration with every window cut to what a washout of this length can serve (delays <=
        washout), so that a short washout narrows the enumerated targets instead of dropping the IPC."""
        return replace(self, windows=tuple(min(w, washout + 1) for w in self.windows))

    @property
    def max_delay(self) -> int:
        return max(self.windows) - 1


@dataclass(frozen=True, slots=True)
class Capacity:
    by_degree: dict[int, float]  # degree -> summed capacity after the noise-floor cut
    threshold: dict[int, float]  # degree -> the cut (largest null capacity)
    linear_per_delay: F64  # degree-1 capacities by delay (after the cut)
    dimension: int  # rank of the centred state: the bound on the total
    features: int
    rows: int
    targets: dict[int, int] = field(default_factory=dict)  # degree -> number of targets enumerated
    windows: tuple[int, ...] = ()  # delays 0..w−1 per degree (degree = index + 1)

    @property
    def total(self) -> float:
        return float(sum(self.by_degree.values()))

    def as_dict(self) -> dict[str, object]:
        return {"by_degree": {str(d): c for d, c in self.by_degree.items()}, "total": self.total,
                "dimension": self.dimension, "features": self.features, "rows": self.rows,
                "threshold": {str(d): c for d, c in self.threshold.items()},
                "targets": {str(d): n for d, n in self.targets.items()}, "windows": list(self.windows),
                "linear_per_delay": [float(c) for c in self.linear_per_delay]}


def _legendre(v: F64, degree: int) -> F64:
    coef = np.zeros(degree + 1)
    coef[degree] = 1.0
    return np.asarray(np.polynomial.legendre.legval(v, coef), dtype=float)


def basis(degree: int, window: int) -> list[tuple[tuple[int, int], ...]]:
    """Every target of this degree with delays < window, as ((delay, power), ...): the multisets of delays."""
    out = []
    for delays in itertools.combinations_with_replacement(range(window), degree):
        out.append(tuple(sorted(Counter(delays).items())))
    return out


def targets(v: F64, rows: slice, terms: list[tuple[tuple[int, int], ...]]) -> F64:
    """(len(rows), len(terms)) Legendre product targets on the selected rows (see `basis` for the terms)."""
    start = rows.start or 0
    deepest = max((k for term in terms for k, _ in term), default=0)
    if start < deepest:
        raise ValueError(f"IPC delays up to {deepest} need {deepest} steps before the first row, got {start}")
    t = np.arange(len(v))[rows]
    cache: dict[tuple[int, int], F64] = {}
    Z = np.empty((len(t), len(terms)))
    for j, term in enumerate(terms):
        col = np.ones(len(t))
        for k, p in term:
            if (k, p) not in cache:
                cache[(k, p)] = _legendre(v[t - k], p)
            col = col * cache[(k, p)]
        Z[:, j] = col
    return Z


def _projector_basis(X: F64) -> F64:
    """Orthonormal basis of the centred state's column space (thin SVD, rank-truncated). Columns are scaled to
    unit variance first: device features mix a hashrate of ~1e11 with fractions, and without scaling the rank cut
    relative to the largest singular value would drop the small-valued columns."""
    Xc = X - X.mean(0)
    sd = Xc.std(0)
    Xc = Xc[:, sd > 1e-12 * (np.abs(X).max(0) + 1e-300)]  # constant columns (zero after centring) carry nothing
    if Xc.shape[1] == 0:
        return np.zeros((len(Xc), 0))
    Xc = Xc / Xc.std(0)
    Uf, s, _ = np.linalg.svd(Xc, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros((len(Xc), 0))
    return np.asarray(Uf[:, s > RANK_TOL * s[0]])


def _capacities(Q: F64, Z: F64) -> F64:
    """Adjusted in-sample R² of every target on the state: 1 − (1 − R²)(n − 1)/(n − r − 1), which removes the
    r/n a rank-r state scores on any target by chance (Ezekiel's correction), so capacities add up to ≤ r."""
    Zc = Z - Z.mean(0)
    norm = np.einsum("ij,ij->j", Zc, Zc)
    proj = Q.T @ Zc
    r2 = np.einsum("ij,ij->j", proj, proj) / np.where(norm > 0, norm, 1.0)
    n, r = Q.shape
    adj = 1.0 - (1.0 - r2) * (n - 1) / max(n - r - 1, 1)
    return np.asarray(np.clip(np.where(norm > 0, adj, 0.0), 0.0, 1.0))


@dataclass(slots=True)
class TargetSet:
    """The targets of one input series (shared by every model of a seed) and their shuffled-input nulls."""

    degree_targets: dict[int, F64]
    null_targets: dict[int, F64]
    windows: dict[int, int] = field(default_factory=dict)  # degree -> window the targets were built for

    @classmethod
    def build(cls, u: npt.ArrayLike, washout: int, cfg: IpcConfig) -> TargetSet:
        x = np.asarray(u, dtype=float)
        v = 2.0 * (x - cfg.u_low) / (cfg.u_high - cfg.u_low) - 1.0
        rows = slice(washout, len(v))
        rng = np.random.default_rng(cfg.null_seed)
        real, null = {}, {}
        for i, w in enumerate(cfg.windows):
            d = i + 1
            family = basis(d, w)
            real[d] = targets(v, rows, family)
            # the null: MIN_NULL_DRAWS targets of this degree built from time-shuffled inputs (independent of the
            # state, same marginal); a small family is redrawn on fresh shuffles until there are enough
            draws, have = [], 0
            while have < MIN_NULL_DRAWS:
                pick = rng.permutation(len(family))[: MIN_NULL_DRAWS - have]
                draws.append(targets(rng.permutation(v), rows, [family[j] for j in pick]))
                have += len(pick)
            null[d] = np.concatenate(draws, axis=1)
        return cls(real, null, {i + 1: w for i, w in enumerate(cfg.windows)})


def estimable(rows: int, dimension: int) -> bool:
    """In-sample capacities need rows well beyond the state's rank: with n − r − 1 < r the adjusted R² of pure
    noise spreads over [0, 1] and the null cut removes everything (quad30's 495 features on 500 rows)."""
    return rows - dimension - 1 >= dimension


def capacity(states: npt.ArrayLike, target_set: TargetSet, washout: int,
             null_scale: float = DEFAULT_NULL_SCALE) -> Capacity | None:
    """The capacities of one state matrix, or None when it has too few rows for its dimension (`estimable`)."""
    X = np.asarray(states, dtype=float)[washout:]
    Q = _projector_basis(X)
    if not estimable(len(X), Q.shape[1]):
        return None
    by_degree, threshold, counts = {}, {}, {}
    linear = np.zeros(0)
    for d, Z in target_set.degree_targets.items():
        if len(Z) != len(X):
            raise ValueError(f"IPC targets have {len(Z)} rows, the state {len(X)} after the washout")
        cut = null_scale * float(_capacities(Q, target_set.null_targets[d]).max())
        cap = _capacities(Q, Z)
        cap[cap <= cut] = 0.0
        by_degree[d], threshold[d], counts[d] = float(cap.sum()), cut, Z.shape[1]
        if d == 1:
            linear = cap
    windows = tuple(int(target_set.windows.get(d, 0)) for d in sorted(target_set.degree_targets))
    return Capacity(by_degree=by_degree, threshold=threshold, linear_per_delay=linear, dimension=Q.shape[1],
                    features=X.shape[1], rows=len(X), targets=counts, windows=windows)


def information_processing_capacity(states: npt.ArrayLike, u: npt.ArrayLike, washout: int,
                                    cfg: IpcConfig | None = None) -> Capacity | None:
    """IPC of one state matrix driven by u (rows before `washout` dropped; washout >= the largest delay)."""
    c = cfg or IpcConfig()
    return capacity(states, TargetSet.build(u, washout, c), washout, c.null_scale)
