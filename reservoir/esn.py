"""A dense software echo-state network: the reference "device" that validates the pipeline end to end.

x(t) = (1 − leak)·x(t−1) + leak·tanh(W x(t−1) + W_in u'(t) + b),  u' = 4(u − 0.25) ∈ [−1, 1] for NARMA input.
W is Gaussian rescaled to the spectral radius, W_in is ±input_scaling (Bernoulli), b is a constant bias: the bias
breaks the odd symmetry a centred tanh reservoir would otherwise have, without which it cannot represent
u(t)·u(t−9) (reservoir.md §4). Defaults follow the best measured regime there (small input gain, sr 0.9, leak 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
INPUT_CENTRE = 0.25
INPUT_GAIN = 4.0


@dataclass(frozen=True, slots=True)
class EsnConfig:
    units: int = 100
    spectral_radius: float = 0.9
    input_scaling: float = 0.05
    bias: float = 0.5
    leak: float = 1.0

    def __post_init__(self) -> None:
        if self.units < 1:
            raise ValueError(f"ESN units must be >= 1, got {self.units}")
        if not 0 < self.leak <= 1:
            raise ValueError(f"ESN leak must be in (0, 1], got {self.leak}")
        if self.spectral_radius < 0 or self.input_scaling < 0:
            raise ValueError("ESN spectral_radius and input_scaling must be >= 0")

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


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
