"""The ESN backend validates the pipeline: on the same NARMA-10 data it must reach within 10% of the NRMSE that
reservoirpy's ESN of the same size reaches (reservoirpy is a test-only dependency)."""

import asyncio

import numpy as np
import pytest

from asicrc.reservoir.backends import BackendOptions, EsnBackend
from asicrc.reservoir.esn import INPUT_CENTRE, INPUT_GAIN, EsnConfig
from asicrc.reservoir.metrics import nrmse
from asicrc.reservoir.narma import generate_narma10
from asicrc.reservoir.readouts import fit_ridge_cv
from asicrc.reservoir.split import ChronoSplit

rpy_nodes = pytest.importorskip("reservoirpy.nodes")

UNITS, STEPS, WASHOUT, SEEDS = 100, 4000, 200, 5


def reservoirpy_nrmse(u: np.ndarray, y: np.ndarray, split: ChronoSplit, cfg: EsnConfig, seed: int) -> float:
    # our data are already aligned (u(t) -> y(t+1)); reservoirpy.datasets.narma is NOT used here because its
    # defaults are NARMA-30 and its recursion is shifted by one step (reservoir.md §1.3)
    res = rpy_nodes.Reservoir(units=cfg.units, sr=cfg.spectral_radius, input_scaling=cfg.input_scaling,
                              bias=cfg.bias, lr=cfg.leak, input_connectivity=1.0, rc_connectivity=1.0, seed=seed)
    S = res.run((INPUT_GAIN * (u - INPUT_CENTRE))[:, None])
    # reservoirpy's own Ridge; its ridge parameter chosen on the last 20% of the training block only
    cut = split.washout + int(0.8 * split.n_train)
    best = min(
        10.0 ** np.arange(-14, 3),  # small input scaling: states vary little, so λ must reach far down
        key=lambda lam: nrmse(y[cut:split.train_end], rpy_nodes.Ridge(ridge=lam).fit(
            S[split.washout:cut], y[split.washout:cut, None]).run(S[cut:split.train_end])[:, 0]),
    )
    ridge = rpy_nodes.Ridge(ridge=best).fit(S[split.train], y[split.train, None])
    return nrmse(y[split.test], ridge.run(S[split.test])[:, 0])


def test_esn_backend_within_10_percent_of_reservoirpy() -> None:
    cfg = EsnConfig(units=UNITS)
    backend = EsnBackend(BackendOptions(esn=cfg))
    ours, theirs = [], []
    for seed in range(SEEDS):
        s = generate_narma10(STEPS, seed)
        split = ChronoSplit.by_fraction(STEPS, WASHOUT)
        run = asyncio.run(backend.drive(s.u, s.target, "monologue", seed))
        fit = fit_ridge_cv(run.features, s.target, split)
        ours.append(nrmse(s.target[split.test], fit.predict(run.features[split.test])))
        theirs.append(reservoirpy_nrmse(s.u, s.target, split, cfg, seed + 1000))
    ratio = np.mean(ours) / np.mean(theirs)
    assert 0.9 <= ratio <= 1.1, f"ours {np.mean(ours):.3f} vs reservoirpy {np.mean(theirs):.3f}"
    # and both are real reservoirs: far better than the 10-lag linear model (0.59) on this task
    assert np.mean(ours) < 0.45
