"""Python wrappers for the TPF's C extractor (native/src/tpf_features.c)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from asicrc.native._core import ffi, lib
from asicrc.native.hashing import HeaderError

_U32 = np.dtype("<u4")


def k_states(header: bytes, nonces: npt.ArrayLike, k: int) -> npt.NDArray[np.uint32]:
    """Working state after k rounds (0..64) of SHA-256d's second compression, shape (n, 8); same values as
    `asicrc.native.hashing.second_compression_states`, computed without the unused schedule words."""
    if not 0 <= k <= 64:
        raise HeaderError(f"k must be in 0..64, got {k}")
    hdr = bytes(header)
    if len(hdr) != 80:
        raise HeaderError(f"header must be exactly 80 bytes, got {len(hdr)}")
    n_arr = np.ascontiguousarray(np.asarray(nonces), dtype=_U32)
    if n_arr.ndim != 1:
        raise HeaderError(f"nonces must be a 1-D array of uint32, got shape {n_arr.shape}")
    out = np.empty((n_arr.shape[0], 8), dtype=_U32)
    lib.asicrc_tpf_k_states(hdr, ffi.from_buffer("uint32_t[]", n_arr), n_arr.shape[0], int(k),
                            ffi.from_buffer("uint32_t[]", out))
    return out


def state_matrix(states: npt.NDArray[np.uint32], words: bool = True, bits: bool = True) -> npt.NDArray[np.float32]:
    """float32 features [8 words / 2^32][256 bits, word-major, least significant bit first] per state row."""
    s = np.ascontiguousarray(states, dtype=_U32)
    if s.ndim != 2 or s.shape[1] != 8:
        raise ValueError(f"states must have shape (n, 8), got {s.shape}")
    width = (8 if words else 0) + (256 if bits else 0)
    out = np.empty((s.shape[0], width), dtype=np.float32)
    lib.asicrc_tpf_state_features(ffi.from_buffer("uint32_t[]", s), s.shape[0], int(words), int(bits),
                                  ffi.from_buffer("float[]", out))
    return out
