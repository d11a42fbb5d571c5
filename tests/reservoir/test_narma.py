import numpy as np
import pytest

from asicrc.reservoir.narma import generate_narma10, narma10_recursion


def direct_loop(u: np.ndarray) -> np.ndarray:
    """The formula written out literally, with zero for indices before 0."""
    y = np.zeros(len(u) + 1)
    for t in range(len(u)):
        s = sum(y[t - i] for i in range(10) if t - i >= 0)
        u9 = u[t - 9] if t - 9 >= 0 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * s + 1.5 * u9 * u[t] + 0.1
    return y


def test_recursion_matches_direct_loop() -> None:
    u = np.random.default_rng(3).uniform(0, 0.5, 3000)
    np.testing.assert_allclose(narma10_recursion(u), direct_loop(u), rtol=1e-12, atol=1e-14)


def test_generated_series_is_aligned_and_follows_formula() -> None:
    s = generate_narma10(2000, seed=1, burn_in=50)
    assert s.u.shape == s.target.shape == (2000,)
    assert 0 <= s.u.min() and s.u.max() < 0.5
    # regenerate the raw draw: same generator, same first draw (no rejection at this length and seed)
    assert s.rejected_draws == 0
    u_full = np.random.default_rng(1).uniform(0, 0.5, 2050)
    y = direct_loop(u_full)
    np.testing.assert_allclose(s.target, y[51:], rtol=1e-12)
    np.testing.assert_array_equal(s.u, u_full[50:])
    # target[t] = y(t+1) depends on u(t) and u(t-9): check one step explicitly
    t = 500
    yt = s.target[t - 1]
    window = s.target[t - 10 : t]
    expect = 0.3 * yt + 0.05 * yt * window.sum() + 1.5 * s.u[t - 9] * s.u[t] + 0.1
    assert s.target[t] == pytest.approx(expect, rel=1e-12)
    assert 0.3 < s.target.mean() < 0.5 and 0.07 < s.target.std() < 0.15


def test_divergent_draws_are_redrawn() -> None:
    # a tight bound forces rejections; every returned value must respect it
    s = generate_narma10(3000, seed=7, bound=0.75)
    assert s.rejected_draws > 0
    assert np.abs(s.target).max() < 0.75


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="length"):
        generate_narma10(0, seed=1)
    with pytest.raises(ValueError, match="all reached"):
        generate_narma10(5000, seed=1, bound=0.2)
