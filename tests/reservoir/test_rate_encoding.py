"""Rate encoding of the reservoir input as share difficulty: D = D_base / (u + eps), clipped, bad input refused."""

from __future__ import annotations

import pytest

from asicrc.reservoir.rate_encoding import rate_encoded_difficulty


def test_rate_encoding() -> None:
    assert rate_encoded_difficulty(0.0, 1.0, eps=0.5) == pytest.approx(2.0)
    assert rate_encoded_difficulty(1.5, 3.0, eps=0.5) == pytest.approx(1.5)
    assert rate_encoded_difficulty(0.0, 1.0, eps=1e-9, d_max=100) == 100
    assert rate_encoded_difficulty(1e9, 1.0, d_min=0.25) == 0.25
    with pytest.raises(ValueError, match="eps"):
        rate_encoded_difficulty(0.5, 1.0, eps=0)
    with pytest.raises(ValueError, match="u must be finite"):
        rate_encoded_difficulty(float("nan"), 1.0)
