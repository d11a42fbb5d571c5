"""NARMA-10 (Atiya & Parlos 2000, eq. 86) in the standard reservoir-computing alignment.

    y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i=0..9} y(t−i) + 1.5 u(t−9) u(t) + 0.1,   u(t) ~ U[0, 0.5]

The readout sees u(0..t) and predicts y(t+1); ``NarmaSeries.target[t]`` is that y(t+1), so inputs and targets
share one index. Terms reaching before t = 0 are zero. The recursion can escape to infinity (≈5e-6 per step);
a draw whose |y| reaches ``bound`` is rejected and redrawn from the same generator, and the number of
rejected draws is reported (rejection conditions the inputs on stability, so it must be visible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ORDER = 10
U_HIGH = 0.5
DEFAULT_BURN_IN = 200  # discard the transient that starts from y = 0 (reservoir.md §1.2)
DEFAULT_BOUND = 1.0
MAX_REDRAWS = 1000


@dataclass(frozen=True, slots=True)
class NarmaSeries:
    u: npt.NDArray[np.float64]  # input u(t), shape (n,)
    target: npt.NDArray[np.float64]  # y(t+1), shape (n,)
    rejected_draws: int  # draws discarded because |y| reached the bound


def narma10_recursion(u: npt.NDArray[np.float64], stop_at: float = 1e12) -> npt.NDArray[np.float64]:
    """y(0..n) for input u(0..n-1), y(0) = 0; len(y) == len(u) + 1.

    Once |y| reaches `stop_at` the rest of y is set to +inf (the draw is lost anyway; stop computing it).
    """
    n = len(u)
    y = np.zeros(n + 1)
    window = [0.0] * ORDER  # ring buffer of y(t-9..t)
    window_sum = 0.0
    yt = 0.0
    for t in range(n):
        u_lag = u[t - ORDER + 1] if t >= ORDER - 1 else 0.0
        nxt = 0.3 * yt + 0.05 * yt * window_sum + 1.5 * u_lag * u[t] + 0.1
        if not math.isfinite(nxt) or abs(nxt) >= stop_at:
            y[t + 1 :] = math.inf
            return y
        slot = (t + 1) % ORDER
        window_sum += nxt - window[slot]  # drop y(t-9), add y(t+1)
        window[slot] = nxt
        yt = nxt
        y[t + 1] = nxt
    return y


def generate_narma10(
    n: int, seed: int, burn_in: int = DEFAULT_BURN_IN, bound: float = DEFAULT_BOUND
) -> NarmaSeries:
    """n aligned (u, y(t+1)) pairs after discarding `burn_in` steps; divergent draws are redrawn."""
    if n < 1:
        raise ValueError(f"NARMA-10 length must be >= 1, got {n}")
    if burn_in < 0:
        raise ValueError(f"burn_in must be >= 0, got {burn_in}")
    if not bound > 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    rng = np.random.default_rng(seed)
    for rejected in range(MAX_REDRAWS):
        u = rng.uniform(0.0, U_HIGH, n + burn_in)
        y = narma10_recursion(u, stop_at=bound)
        if np.all(np.abs(y) < bound):
            return NarmaSeries(u=u[burn_in:].copy(), target=y[burn_in + 1 :].copy(), rejected_draws=rejected)
    raise ValueError(f"NARMA-10: {MAX_REDRAWS} draws of length {n + burn_in} all reached |y| >= {bound}")
