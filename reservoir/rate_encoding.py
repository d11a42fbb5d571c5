"""Rate encoding: the reservoir input u carried by the Stratum share difficulty the pool assigns to a device."""

from __future__ import annotations

import math


def rate_encoded_difficulty(u: float, d_base: float, eps: float = 0.05, d_min: float = 1e-3,
                            d_max: float = 1e12) -> float:
    """D = D_base / (u + eps), clipped to [d_min, d_max]: a larger input u asks for more (easier) shares.

    u is the input value (normally in [0, 1]); eps keeps D finite at u = 0.
    """
    for name, val in (("u", u), ("d_base", d_base), ("eps", eps), ("d_min", d_min), ("d_max", d_max)):
        if not math.isfinite(val):
            raise ValueError(f"{name} must be finite, got {val!r}")
    if d_base <= 0 or eps <= 0 or d_min <= 0 or d_max < d_min:
        raise ValueError(f"need d_base > 0, eps > 0, 0 < d_min <= d_max; got {d_base}, {eps}, {d_min}, {d_max}")
    denom = u + eps
    if denom <= 0:
        return d_max
    return min(d_max, max(d_min, d_base / denom))
