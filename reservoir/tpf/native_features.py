"""Python wrapper for the TPF's C feature expansion (native/src/tpf_features.c).

The k-round states themselves come from the core: `asicrc.native.second_compression_states` (which computes
only the schedule words the k rounds read)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from asicrc.native._core import ffi, lib

_U32 = np.dtype("<u4")


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
