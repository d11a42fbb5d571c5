"""The TPF C extractor (native/src/tpf_features.c) agrees with the core and with numpy, and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asicrc.native import hashing
from asicrc.native.hashing import HeaderError
from asicrc.reservoir.tpf.native_features import k_states, state_matrix


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.integers(0, 2**32 - 1), st.integers(0, 64))
def test_k_states_equal_core_states(header: bytes, start: int, k: int) -> None:
    nonces = ((np.arange(64, dtype=np.uint64) * 2654435761 + start) & 0xFFFFFFFF).astype(np.uint32)
    assert np.array_equal(k_states(header, nonces, k), hashing.second_compression_states(header, nonces, k))


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
        k_states(b"short", np.arange(3), 5)
    with pytest.raises(HeaderError, match=r"0\.\.64"):
        k_states(bytes(80), np.arange(3), 65)
    with pytest.raises(ValueError, match="shape"):
        state_matrix(np.zeros((3, 4), dtype=np.uint32))
