"""The reference ESN's input scaling and bias, chosen per seed by forward-chaining CV on the training block only.

Candidates are the size-scaled defaults (esn.EsnConfig.for_units) times {0.5, 1, 2} in input scaling and
{0.6, 1, 1.6} in bias (9 reservoirs, the same weights seed for all); the spectral radius stays at its default
(CV preferred 0.95 over 0.8 at every size measured). Each candidate's score is the lowest CV error over the ridge
α grid of `readouts.fit_ridge_cv`, which reads only the training rows: the test block plays no part in the choice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .esn import EsnConfig, esn_states
from .readouts import fit_ridge_cv
from .split import ChronoSplit

F64 = npt.NDArray[np.float64]
INPUT_SCALING_FACTORS = (0.5, 1.0, 2.0)
BIAS_FACTORS = (0.6, 1.0, 1.6)


@dataclass(frozen=True, slots=True)
class Selection:
    config: EsnConfig
    states: F64  # the chosen reservoir's states on the whole run (T, units)
    cv_mse: dict[str, float]  # "input_scaling=…,bias=…" -> best CV MSE of that candidate

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config.as_dict(), "cv_mse": self.cv_mse}


def candidates(centre: EsnConfig) -> list[EsnConfig]:
    return [replace(centre, input_scaling=centre.input_scaling * a, bias=centre.bias * b)
            for a, b in itertools.product(INPUT_SCALING_FACTORS, BIAS_FACTORS)]


def select_reference(u: npt.ArrayLike, y: npt.ArrayLike, split: ChronoSplit, centre: EsnConfig,
                     seed: int) -> Selection:
    best: tuple[float, EsnConfig, F64] | None = None
    table: dict[str, float] = {}
    for cfg in candidates(centre):
        X = esn_states(u, cfg, seed)
        score = float(np.min(fit_ridge_cv(X, y, split).cv_mse))
        table[f"input_scaling={cfg.input_scaling:.4g},bias={cfg.bias:.4g}"] = score
        if best is None or score < best[0]:
            best = (score, cfg, X)
    if best is None:
        raise ValueError("no ESN candidates to choose from")
    return Selection(config=best[1], states=best[2], cv_mse=table)
