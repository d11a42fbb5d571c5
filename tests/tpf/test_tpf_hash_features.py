"""The feature source (k-round states) and the labels, checked against an independent pure-Python oracle."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asicrc.native import hashing
from asicrc.reservoir.tpf.data import (
    HashSplit,
    difficulty_to_rate,
    final_labels,
    rate_to_difficulty,
    state_features,
    toy_labels,
)

K = [0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
     0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
     0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
     0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
     0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
     0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
     0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
     0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2]
IV = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
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
