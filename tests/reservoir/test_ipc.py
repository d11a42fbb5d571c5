"""Information processing capacity (Dambre 2012) validated on systems whose capacities are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from asicrc.reservoir.controls import input_lags, quadratic_features
from asicrc.reservoir.esn import EsnConfig, esn_states
from asicrc.reservoir.ipc import (
    Capacity,
    IpcConfig,
    TargetSet,
    basis,
    capacity,
    estimable,
    information_processing_capacity,
)

WASHOUT = 100
CFG = IpcConfig(windows=(30, 12, 8))


def _known(c: Capacity | None) -> Capacity:
    assert c is not None, "enough rows for the dimension"
    return c


def _u(n: int = 1600, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 0.5, n)


@pytest.fixture(scope="module")
def target_set() -> TargetSet:
    return TargetSet.build(_u(), WASHOUT, CFG)


def test_basis_enumerates_products_of_delays_by_degree() -> None:
    assert basis(1, 3) == [((0, 1),), ((1, 1),), ((2, 1),)]
    two = basis(2, 3)
    assert len(two) == 6 and ((0, 2),) in two and ((0, 1), (2, 1)) in two  # P2(v(t)) and v(t)·v(t−2)
    assert len(basis(3, 12)) == 364  # multisets of 3 delays out of 12


def test_delay_line_has_linear_capacity_n_and_no_nonlinear_capacity(target_set: TargetSet) -> None:
    c = _known(capacity(input_lags(_u(), 10), target_set, WASHOUT))
    assert c.dimension == 10
    assert c.by_degree[1] == pytest.approx(10.0, abs=1e-6)  # Σ_k C[v(t−k)] = 10 exactly, each delay 0..9 at 1
    assert np.all(c.linear_per_delay[:10] > 0.999) and np.all(c.linear_per_delay[10:] == 0)
    assert c.by_degree[2] + c.by_degree[3] < 0.05 * 10  # none in truth; what passes the cut is sampling noise


def test_quadratic_features_have_exactly_their_degree_one_and_two_capacity(target_set: TargetSet) -> None:
    """Constant + linear + quadratic monomials of 6 lags span exactly the 6 linear and 21 degree-2 Legendre
    targets of those delays: total = dimension = 27, with nothing of degree 3."""
    c = _known(capacity(quadratic_features(input_lags(_u(), 6)), target_set, WASHOUT))
    assert c.dimension == 27
    assert c.by_degree[1] == pytest.approx(6.0, abs=1e-6) and c.by_degree[2] == pytest.approx(21.0, abs=1e-6)
    assert c.by_degree[3] < 0.5 and c.total == pytest.approx(27.0, abs=0.5)


def test_state_independent_of_the_input_has_no_capacity(target_set: TargetSet) -> None:
    noise = np.random.default_rng(5).normal(size=(1600, 20))
    c = _known(capacity(noise, target_set, WASHOUT))
    assert c.dimension == 20 and c.total < 0.3
    assert _known(capacity(np.ones((1600, 3)), target_set, WASHOUT)).total == 0.0  # a constant state: rank 0


def test_esn_total_capacity_is_bounded_by_its_dimension_and_includes_nonlinear(target_set: TargetSet) -> None:
    X = esn_states(_u(), EsnConfig(units=30, input_scaling=0.05, bias=0.5), seed=2)
    c = _known(capacity(X, target_set, WASHOUT))
    assert c.dimension == 30
    assert c.total <= 1.03 * c.dimension  # Dambre: ≤ N (the 3 % is the finite-sample slack of in-sample R²)
    assert c.total > 0.8 * c.dimension  # a fading-memory ESN comes close to the bound within degree 3
    assert c.by_degree[2] > 3.0  # the bias breaks the odd symmetry: degree-2 capacity exists
    odd = esn_states(_u(), EsnConfig(units=30, input_scaling=0.05, bias=0.0), seed=2)
    assert _known(capacity(odd, target_set, WASHOUT)).by_degree[2] < 0.5  # without bias, a centred tanh ESN is odd


def test_input_checks() -> None:
    with pytest.raises(ValueError, match="need 29 steps before the first row"):
        information_processing_capacity(np.zeros((200, 2)), _u(200), washout=10, cfg=CFG)
    with pytest.raises(ValueError, match="windows must be >= 1"):
        IpcConfig(windows=(10, 0))
    with pytest.raises(ValueError, match="u_high > u_low"):
        IpcConfig(u_low=1.0, u_high=0.5)
    assert IpcConfig.from_dict(CFG.as_dict()) == CFG


def test_columns_of_very_different_scale_all_count(target_set: TargetSet) -> None:
    """A device's features mix a hashrate of ~1e11 with fractions: every independent column must count."""
    u = _u()
    X = np.c_[4e11 + 1e10 * np.random.default_rng(1).normal(size=1600), input_lags(u, 5), np.full(1600, 7.0)]
    c = _known(capacity(X, target_set, WASHOUT))
    assert c.dimension == 6 and c.by_degree[1] == pytest.approx(5.0, abs=1e-6)


def test_a_short_washout_narrows_the_delays_instead_of_dropping_the_ipc() -> None:
    assert IpcConfig().within(50).windows == (51, 30, 12)
    u = _u(600)
    c = _known(information_processing_capacity(input_lags(u, 3), u, washout=20, cfg=IpcConfig().within(20)))
    assert c.windows == (21, 21, 12) and c.by_degree[1] == pytest.approx(3.0, abs=1e-6)


def test_too_few_rows_for_the_dimension_is_not_scored(target_set: TargetSet) -> None:
    """quad30 (495 features) on 500 rows: the adjusted R² of noise fills [0, 1] and nothing could pass the cut;
    that is reported as not estimable rather than as zero capacity."""
    assert estimable(1500, 700) and not estimable(500, 495)
    u = _u(800)
    assert information_processing_capacity(quadratic_features(input_lags(u, 30)), u, washout=100,
                                           cfg=IpcConfig().within(100)) is None
