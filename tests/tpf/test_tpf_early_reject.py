"""The exact round-61 early reject: never rejects a nonce that meets the target, and it is measured."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from asicrc.native import hashing
from asicrc.reservoir.tpf.early_reject import measure_early_reject


def hash_le_int(header: bytes, nonce: int) -> int:
    h = header[:76] + struct.pack("<I", nonce)
    return int.from_bytes(hashlib.sha256(hashlib.sha256(h).digest()).digest(), "little")


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.integers(0, 2**32 - 1),
       st.floats(min_value=-40, max_value=-20))
def test_early_reject_never_rejects_a_valid_nonce(header: bytes, start: int, log2_diff: float) -> None:
    nonces = ((np.arange(3000, dtype=np.uint64) + start) & 0xFFFFFFFF).astype(np.uint32)
    target = hashing.difficulty_to_target(2.0**log2_diff)
    early = hashing.meets_target_batch(header, nonces, target, early_reject=True)
    full = hashing.meets_target_batch(header, nonces, target, early_reject=False)
    assert np.array_equal(early.ok, full.ok)
    # independent oracle (hashlib) on every accepted nonce and a sample of rejected ones
    for i in np.flatnonzero(early.ok)[:50]:
        assert hash_le_int(header, int(nonces[i])) <= target
    for i in np.flatnonzero(~early.ok)[:30]:
        assert hash_le_int(header, int(nonces[i])) > target
    assert early.rounds <= full.rounds


def test_target_top_word_boundary_is_kept() -> None:
    """A target whose top word equals a hash's top word must still accept that hash (the reject is strict >)."""
    header = bytes(range(80))
    nonces = np.arange(2000, dtype=np.uint32)
    _, hashes = hashing.difficulty_batch(header, nonces, return_hashes=True)
    ints = [int.from_bytes(bytes(h), "little") for h in hashes]
    i = int(np.argmin(ints))
    target = ints[i]  # exactly the best hash: only it (or equal ones) meets the target
    ok = hashing.meets_target_batch(header, nonces, target, early_reject=True).ok
    assert ok[i] and ok.sum() == sum(v <= target for v in ints)


def test_measurement_reports_rounds_and_time() -> None:
    m = measure_early_reject(bytes(80), np.arange(100_000), 2.0**-24, repeats=1)
    assert m["identical_accepts"] is True
    assert m["rounds_per_nonce_full"] == 128
    # nearly every nonce stops at 61: saving approaches 3/128 and can never exceed it
    assert 0.9 * m["bound_rounds_saved_fraction"] < m["rounds_saved_fraction"] <= m["bound_rounds_saved_fraction"]
    assert m["seconds_full"] > 0 and m["seconds_early"] > 0
