"""The one early abort that is real: reject after round 61 of the second compression (exact, never loses a share).

`measure_early_reject` runs the same nonces through the C check with and without the round-61 reject and reports
rounds and wall time of both, and whether the accepted sets are identical (they must be).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.native import hashing

from .energy import FIXED_ROUNDS, N_ROUNDS


def _best_time(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure_early_reject(header: bytes, nonces: npt.ArrayLike, difficulty: float, repeats: int = 5) -> dict[str, Any]:
    """Rounds and time of the exact early reject versus full SHA-256d on the same nonces. The round saving is
    exact (<= 3/128); the time saving depends on the core (with SHA-NI the last rounds run in scalar code and
    the wall-time gain can vanish): both are reported as measured."""
    n_arr = np.ascontiguousarray(np.asarray(nonces, dtype=np.uint32))
    if n_arr.size == 0:
        raise ValueError("need at least one nonce to measure")
    target = hashing.difficulty_to_target(difficulty)
    # interleaved pairs: on a shared machine load drifts, so the speedup is the median of per-pair ratios
    t_full = t_early = t_sha = float("inf")
    ratios: list[float] = []
    full = early = None
    for _ in range(max(1, repeats)):
        tf, full = _best_time(lambda: hashing.meets_target_batch(header, n_arr, target, early_reject=False), 1)
        te, early = _best_time(lambda: hashing.meets_target_batch(header, n_arr, target, early_reject=True), 1)
        t_full, t_early = min(t_full, tf), min(t_early, te)
        ratios.append(tf / te if te > 0 else float("nan"))
        t_sha = min(t_sha, _best_time(lambda: hashing.difficulty_batch(header, n_arr), 1)[0])
    assert full is not None and early is not None
    n = int(n_arr.size)
    return {
        "nonces": n,
        "difficulty": difficulty,
        "hits": early.hits,
        "identical_accepts": bool(np.array_equal(full.ok, early.ok)),
        "rounds_full": full.rounds,
        "rounds_early": early.rounds,
        "rounds_per_nonce_full": full.rounds / n,
        "rounds_per_nonce_early": early.rounds / n,
        "rounds_saved_fraction": 1.0 - early.rounds / full.rounds,
        "second_compression_saved_fraction": (full.rounds - early.rounds) / (n * N_ROUNDS),
        "bound_rounds_saved_fraction": 3 / (FIXED_ROUNDS + N_ROUNDS),
        "seconds_full": t_full,
        "seconds_early": t_early,
        "seconds_sha256d_difficulty": t_sha,
        "speedup_vs_full": float(np.median(ratios)),
        "speedup_pairs_range": [float(min(ratios)), float(max(ratios))],
        "speedup_vs_sha256d": t_sha / t_early if t_early > 0 else float("nan"),
    }
