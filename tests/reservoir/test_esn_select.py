"""The reference ESN: size-scaled defaults and the per-seed CV choice on the training block."""

import numpy as np
import pytest

from asicrc.reservoir.esn import EsnConfig, default_bias, esn_states
from asicrc.reservoir.esn_select import candidates, select_reference
from asicrc.reservoir.narma import generate_narma10
from asicrc.reservoir.split import ChronoSplit


def test_defaults_scale_with_size() -> None:
    assert EsnConfig.for_units(100) == EsnConfig()
    assert default_bias(50) == 0.5 and default_bias(500) == pytest.approx(0.2236, abs=1e-4)
    big = EsnConfig.for_units(500)
    assert big.input_scaling == 0.005 and big.spectral_radius == 0.95 and big.bias < EsnConfig().bias
    assert EsnConfig.from_dict(big.as_dict()) == big


def test_selection_is_the_cv_argmin_and_ignores_the_test_block() -> None:
    s = generate_narma10(900, seed=3)
    split = ChronoSplit.by_fraction(900, 100)
    centre = EsnConfig.for_units(20)
    sel = select_reference(s.u, s.target, split, centre, seed=5)
    assert len(sel.cv_mse) == len(candidates(centre)) == 9
    assert min(sel.cv_mse.values()) == sel.cv_mse[
        f"input_scaling={sel.config.input_scaling:.4g},bias={sel.config.bias:.4g}"]
    np.testing.assert_array_equal(sel.states, esn_states(s.u, sel.config, 5))
    poisoned = s.target.copy()
    poisoned[split.test] = 10.0  # the test block cannot change the choice
    assert select_reference(s.u, poisoned, split, centre, seed=5).config == sel.config
