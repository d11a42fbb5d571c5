"""The feature source (k-round states) and the labels, checked against an independent pure-Python oracle."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asicrc.native import hashing
from asicrc.native.reference.sha256 import IV, K
from asicrc.reservoir.tpf.data import (
    HashSplit,
    difficulty_to_rate,
    final_labels,
    rate_to_difficulty,
    state_features,
    toy_labels,
)

# FIPS 180-4 constants from the pure-Python reference; the round logic below is this test's own oracle.
M = 0xFFFFFFFF


def rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & M


def oracle_second_state(header: bytes, k: int) -> list[int]:
    """Working state after k rounds of SHA-256d's second compression, from hashlib's first hash (test oracle)."""
    block = hashlib.sha256(header).digest() + b"\x80" + b"\x00" * 29 + struct.pack(">H", 256)
    w = list(struct.unpack(">16I", block))
    for t in range(16, 64):
        s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
        s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
        w.append((w[t - 16] + s0 + w[t - 7] + s1) & M)
    a, b, c, d, e, f, g, h = IV
    for t in range(k):
        t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) & M
        t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & M
        a, b, c, d, e, f, g, h = (t1 + t2) & M, a, b, c, (d + t1) & M, e, f, g
    return [a, b, c, d, e, f, g, h]


def with_nonce(header: bytes, nonce: int) -> bytes:
    return header[:76] + struct.pack("<I", nonce)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.integers(0, 2**32 - 1), st.integers(1, 64))
def test_k_round_states_match_oracle(header: bytes, nonce: int, k: int) -> None:
    got = hashing.second_compression_states(header, np.array([nonce], dtype=np.uint32), k)[0]
    assert [int(x) for x in got] == oracle_second_state(with_nonce(header, nonce), k)


def test_64_round_state_plus_iv_is_the_hash() -> None:
    header = bytes(range(80))
    nonces = np.arange(50, dtype=np.uint32)
    states = hashing.second_compression_states(header, nonces, 64)
    for n, s in zip(nonces, states, strict=True):
        words = [(int(x) + iv) & M for x, iv in zip(s, IV, strict=True)]
        digest = hashlib.sha256(hashlib.sha256(with_nonce(header, int(n))).digest()).digest()
        assert struct.pack(">8I", *words) == digest


def test_toy_label_at_64_rounds_agrees_with_real_top_word() -> None:
    """The toy label uses the real hash's convention: cut at 64 rounds it is the real 'top 32 bits < t' test."""
    header = bytes(range(1, 81))
    nonces = np.arange(200_000, dtype=np.uint32)
    rate = 1 / 64
    toy = toy_labels(header, nonces, 64, rate)
    # real hash, top 32 bits of the little-endian integer, against the same 32-bit threshold
    _, hashes = hashing.difficulty_batch(header, nonces, return_hashes=True)
    top = hashes[:, 28:32].copy().view("<u4")[:, 0]
    assert np.array_equal(toy, top.astype(np.float64) < rate * 2**32)
    assert 0.8 * rate < toy.mean() < 1.2 * rate


def test_final_labels_are_exact_and_rate_conversion_holds() -> None:
    header = bytes(80)
    nonces = np.arange(100_000, dtype=np.uint32)
    d = rate_to_difficulty(1 / 256)
    assert difficulty_to_rate(d) == pytest.approx(1 / 256)
    lab = final_labels(header, nonces, d)
    _, hashes = hashing.difficulty_batch(header, nonces, return_hashes=True)
    target = hashing.difficulty_to_target(d)
    exact = np.array([int.from_bytes(bytes(h), "little") <= target for h in hashes])
    assert np.array_equal(lab, exact)
    assert 250 < lab.sum() < 540  # ~390 expected


def test_state_features_layout() -> None:
    s = np.array([[1, 0x80000000, 0, 0, 0, 0, 0, 0xFFFFFFFF]], dtype=np.uint32)
    f = state_features(s, "words+bits")
    assert f.shape == (1, 264)
    assert f[0, 1] == pytest.approx(0.5)
    bits = f[0, 8:]
    assert bits[0] == 1 and bits[1:32].sum() == 0  # word 0 = 1: bit 0 only
    assert bits[32 + 31] == 1  # word 1 top bit
    assert bits[7 * 32:].sum() == 32
    assert state_features(s, "words+nibbles").shape == (1, 72)
    with pytest.raises(ValueError, match="unknown feature kind"):
        state_features(s, "bytes!")
    with pytest.raises(ValueError, match="shape"):
        state_features(np.zeros((2, 7), dtype=np.uint32))


def test_split_refuses_bad_k_and_has_unique_ids() -> None:
    with pytest.raises(ValueError, match="k"):
        HashSplit.build(bytes(80), np.arange(10, dtype=np.uint32), 0, 1e-6)
    sp = HashSplit.build(bytes(80), np.arange(1000, dtype=np.uint32), 5, rate_to_difficulty(1 / 16))
    assert np.unique(sp.ids()).size == 1000
    assert sp.label_rounds == 64
