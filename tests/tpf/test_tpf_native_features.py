"""The k-round states the TPF reads agree with a truncated full compression; the C feature expansion
(native/src/tpf_features.c) agrees with numpy; both refuse bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asicrc.native import hashing
from asicrc.native.hashing import HeaderError
from asicrc.reservoir.tpf.native_features import state_matrix

IV = np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
              dtype=np.uint32)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.integers(0, 2**32 - 1), st.integers(0, 64))
def test_k_states_equal_truncated_compression(header: bytes, start: int, k: int) -> None:
    # second_compression_states expands only the schedule words rounds 0..k-1 read; sha256_compress(rounds=k)
    # expands all 64 first, so the two share no shortcut
    nonces = ((np.arange(16, dtype=np.uint64) * 2654435761 + start) & 0xFFFFFFFF).astype(np.uint32)
    states = hashing.second_compression_states(header, nonces, k)
    for row, nonce in zip(states, nonces, strict=True):
        first = hashing.sha256(header[:76] + int(nonce).to_bytes(4, "little"))
        block = first + b"\x80" + b"\x00" * 29 + (256).to_bytes(2, "big")
        assert np.array_equal((hashing.sha256_compress(IV, block, rounds=k) - IV).astype(np.uint32), row)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=8, max_size=8 * 6).filter(lambda v: len(v) % 8 == 0))
def test_state_matrix_equals_numpy_expansion(values: list[int]) -> None:
    s = np.array(values, dtype=np.uint32).reshape(-1, 8)
    raw = np.ascontiguousarray(s.astype("<u4")).view(np.uint8)
    bits = np.unpackbits(raw, axis=1, bitorder="little").astype(np.float32)
    words = (s.astype(np.float64) / 2**32).astype(np.float32)
    assert np.array_equal(state_matrix(s), np.hstack([words, bits]))
    assert np.array_equal(state_matrix(s, words=False), bits)
    assert np.array_equal(state_matrix(s, bits=False), words)


def test_bad_input() -> None:
    with pytest.raises(HeaderError, match="80 bytes"):
        hashing.second_compression_states(b"short", np.arange(3), 5)
    with pytest.raises(HeaderError, match=r"0\.\.64"):
        hashing.second_compression_states(bytes(80), np.arange(3), 65)
    with pytest.raises(ValueError, match="shape"):
        state_matrix(np.zeros((3, 4), dtype=np.uint32))
