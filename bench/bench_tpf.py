"""TPF benchmark: k-round feature extraction (C) vs full SHA-256d, and the exact early reject's speedup.

Every figure is a ratio against a reference measured in the same run on the same nonces:
    .venv/bin/python bench/bench_tpf.py [--n 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from asicrc.native import hashing
from asicrc.reservoir.tpf.data import rate_to_difficulty, state_features
from asicrc.reservoir.tpf.native_features import k_states


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    header = bytes(range(80))
    nonces = np.arange(args.n, dtype=np.uint32)
    target = hashing.difficulty_to_target(rate_to_difficulty(1 / 256))

    t_full = best_of(lambda: hashing.meets_target_batch(header, nonces, target, early_reject=False), args.repeats)
    t_diff = best_of(lambda: hashing.difficulty_batch(header, nonces), args.repeats)
    rate_full = args.n / t_full
    print(f"reference: full sha256d target check  {rate_full / 1e6:8.2f} Mhash/s  (difficulty_batch "
          f"{args.n / t_diff / 1e6:.2f} Mhash/s)")

    print("k-round state extraction in C (first compression + k rounds of the second):")
    for k in range(1, 9):
        t = best_of(partial(hashing.second_compression_states, header, nonces, k), args.repeats)
        print(f"  k={k}: {args.n / t / 1e6:8.2f} Mhash/s   ratio vs full sha256d x{t_full / t:5.2f}   "
              f"(round-count ratio 128/(64+k) = x{128 / (64 + k):.2f})")
    print("TPF extractor (tpf_features.c: no unused schedule words):")
    for k in (1, 5, 8):
        t = best_of(partial(k_states, header, nonces, k), args.repeats)
        print(f"  k={k}: {args.n / t / 1e6:8.2f} Mhash/s   ratio vs full sha256d x{t_full / t:5.2f}")
    states = hashing.second_compression_states(header, nonces, 5)
    t_feat = best_of(lambda: state_features(states, "words+bits"), args.repeats)
    print(f"  words+bits expansion (C) of k=5 states: {args.n / t_feat / 1e6:8.2f} Mrows/s   "
          f"ratio vs full sha256d x{t_full / t_feat:5.2f}")

    early = hashing.meets_target_batch(header, nonces, target, early_reject=True)
    full = hashing.meets_target_batch(header, nonces, target, early_reject=False)
    assert np.array_equal(early.ok, full.ok), "early reject changed the accepted set"
    # interleaved: full and early alternate in each repeat so load drift hits both alike
    def check(early_reject: bool) -> Callable[[], Any]:
        return partial(hashing.meets_target_batch, header, nonces, target, early_reject=early_reject)

    t_full_i = t_early = float("inf")
    for _ in range(max(3, args.repeats)):
        t_full_i = min(t_full_i, best_of(check(False), 1))
        t_early = min(t_early, best_of(check(True), 1))
    t_full = min(t_full, t_full_i)
    print(f"exact round-61 early reject: {args.n / t_early / 1e6:8.2f} Mhash/s   speedup over full sha256d on the "
          f"same nonces x{t_full / t_early:.3f}   rounds ratio x{full.rounds / early.rounds:.4f} "
          f"(bound 128/125 = x{128 / 125:.4f}), identical accepts ({early.hits} hits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
