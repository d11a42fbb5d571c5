"""TPF benchmark: k-round feature extraction (C) vs full SHA-256d, and the exact early reject's speedup.

Every figure is a ratio against a reference measured in the same run on the same nonces. The machine is shared,
so each ratio is the median over interleaved (reference, candidate) pairs, with the pair range shown:
    .venv/bin/python bench/bench_tpf.py [--n 1000000] [--repeats 7]
    ASICRC_NO_SHANI=1 .venv/bin/python bench/bench_tpf.py     # scalar SHA-256 core for comparison
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from asicrc.native import hashing
from asicrc.reservoir.tpf.data import rate_to_difficulty, state_features


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def paired(ref: Callable[[], Any], cand: Callable[[], Any], repeats: int) -> tuple[float, float, float, float]:
    """(median speed ratio ref_time/cand_time, min ratio, max ratio, best candidate seconds)."""
    ratios, best = [], float("inf")
    for _ in range(repeats):
        t_ref, t_cand = timed(ref), timed(cand)
        ratios.append(t_ref / t_cand)
        best = min(best, t_cand)
    return statistics.median(ratios), min(ratios), max(ratios), best


def line(label: str, n: int, r: tuple[float, float, float, float], unit: str = "Mhash/s") -> str:
    med, lo, hi, best = r
    return f"  {label:<44} {n / best / 1e6:7.2f} {unit}   x{med:5.2f} vs full sha256d (pairs x{lo:.2f}..x{hi:.2f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    n, reps = args.n, args.repeats
    header = bytes(range(80))
    nonces = np.arange(n, dtype=np.uint32)
    target = hashing.difficulty_to_target(rate_to_difficulty(1 / 256))
    full = partial(hashing.meets_target_batch, header, nonces, target, early_reject=False)
    t_full = min(timed(full) for _ in range(3))
    print(f"reference: full sha256d target check on {n} nonces: {n / t_full / 1e6:.2f} Mhash/s")

    print("k-round state extraction, C (first compression + k rounds, only the schedule words they read):")
    for k in range(1, 9):
        print(line(f"second_compression_states k={k}", n,
                   paired(full, partial(hashing.second_compression_states, header, nonces, k), reps)))
    states = hashing.second_compression_states(header, nonces, 5)
    print(line("words+bits expansion (C) of k=5 states", n, paired(full, partial(state_features, states), reps),
               "Mrows/s"))

    early_chk = hashing.meets_target_batch(header, nonces, target, early_reject=True)
    full_chk = full()
    assert np.array_equal(early_chk.ok, full_chk.ok), "early reject changed the accepted set"
    early = partial(hashing.meets_target_batch, header, nonces, target, early_reject=True)
    print("exact round-61 early reject on the same nonces:")
    print(line("meets_target_batch(early_reject=True)", n, paired(full, early, reps)))
    print(f"  rounds ratio x{full_chk.rounds / early_chk.rounds:.4f} (bound 128/125 = x{128 / 125:.4f}); "
          f"identical accepts ({early_chk.hits} hits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
