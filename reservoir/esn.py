"""A dense software echo-state network: the reference "device" that validates the pipeline end to end.

x(t) = (1 − leak)·x(t−1) + leak·tanh(W x(t−1) + W_in u'(t) + b),  u' = 4(u − 0.25) ∈ [−1, 1] for NARMA input.
W is Gaussian rescaled to the spectral radius, W_in is ±input_scaling (Bernoulli), b is a constant bias: the bias
breaks the odd symmetry a centred tanh reservoir would otherwise have, without which it cannot represent
u(t)·u(t−9) (reservoir.md §4).

Defaults scale with size (`EsnConfig.for_units`): input scaling 0.005, spectral radius 0.95, leak 1, and a bias
of 0.5·√(100/units) capped at 0.5. These are the minima of the forward-chaining CV error on the training blocks
of 3000-step NARMA-10 runs (3 seeds; grid input scaling 0.001-0.05, bias 0.1-0.8, radius 0.8-1.0) for 100, 200
and 500 units: CV chose bias 0.5 / 0.35 / 0.2 and input scaling 0.005 at every size (docs/reservoir.md). The
analysis re-chooses the reference ESN's input scaling and bias per seed by CV on the training block around
these defaults (`select_reference`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
INPUT_CENTRE = 0.25
INPUT_GAIN = 4.0


DEFAULT_INPUT_SCALING = 0.005
DEFAULT_SPECTRAL_RADIUS = 0.95
BIAS_AT_100 = 0.5


def default_bias(units: int) -> float:
    """Larger reservoirs want less bias (a less saturated, more linear operating point): 0.5·√(100/units) ≤ 0.5."""
    return min(BIAS_AT_100, BIAS_AT_100 * math.sqrt(100.0 / max(units, 1)))


@dataclass(frozen=True, slots=True)
class EsnConfig:
    units: int = 100
    spectral_radius: float = DEFAULT_SPECTRAL_RADIUS
    input_scaling: float = DEFAULT_INPUT_SCALING
    bias: float = BIAS_AT_100  # = default_bias(100); use for_units for other sizes
    leak: float = 1.0

    def __post_init__(self) -> None:
        if self.units < 1:
            raise ValueError(f"ESN units must be >= 1, got {self.units}")
        if not 0 < self.leak <= 1:
            raise ValueError(f"ESN leak must be in (0, 1], got {self.leak}")
        if self.spectral_radius < 0 or self.input_scaling < 0:
            raise ValueError("ESN spectral_radius and input_scaling must be >= 0")

    @classmethod
    def for_units(cls, units: int) -> EsnConfig:
        """The size-scaled defaults (see the module docstring)."""
        return cls(units=units, bias=default_bias(units))

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EsnConfig:
        """The inverse of as_dict (a replay rebuilds the reference the recording was analysed with)."""
        base = cls.for_units(int(d.get("units", 100)))
        return cls(units=base.units, spectral_radius=float(d.get("spectral_radius", base.spectral_radius)),
                   input_scaling=float(d.get("input_scaling", base.input_scaling)),
                   bias=float(d.get("bias", base.bias)), leak=float(d.get("leak", base.leak)))


@dataclass(frozen=True, slots=True)
class EsnWeights:
    W: F64
    W_in: F64
    b: F64


def esn_weights(cfg: EsnConfig, seed: int) -> EsnWeights:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(cfg.units, cfg.units))
    radius = float(np.max(np.abs(np.linalg.eigvals(W))))
    W *= cfg.spectral_radius / radius
    W_in = rng.choice([-1.0, 1.0], size=cfg.units) * cfg.input_scaling
    return EsnWeights(W=W, W_in=W_in, b=np.full(cfg.units, cfg.bias))


def esn_states(u: npt.ArrayLike, cfg: EsnConfig, seed: int) -> F64:
    """States (T, units) driven by the raw input u (centred and scaled here)."""
    w = esn_weights(cfg, seed)
    drive = np.outer(INPUT_GAIN * (np.asarray(u, dtype=float) - INPUT_CENTRE), w.W_in) + w.b
    X = np.empty_like(drive)
    x = np.zeros(cfg.units)
    WT = w.W.T.copy()
    for t in range(len(drive)):
        pre = np.tanh(x @ WT + drive[t])
        x = pre if cfg.leak == 1.0 else (1 - cfg.leak) * x + cfg.leak * pre
        X[t] = x
    return X
