"""SHA-256d hashing entry points over the C core. Batch functions take and return numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from ._core import ffi, lib

DIFF1_TARGET = 0xFFFF << 208
_U32 = np.dtype("<u4")


class HeaderError(ValueError):
    """An argument is not a valid header/block/target."""


def _need(data: bytes, size: int, what: str) -> bytes:
    data = bytes(data)
    if len(data) != size:
        raise HeaderError(f"{what} must be exactly {size} bytes, got {len(data)}")
    return data


def _u32(arr: npt.ArrayLike, what: str) -> npt.NDArray[np.uint32]:
    a = np.asarray(arr)
    if a.ndim != 1:
        raise HeaderError(f"{what} must be a 1-D array of uint32, got shape {a.shape}")
    if a.dtype != _U32:
        if a.size and (a.min() < 0 or a.max() > 0xFFFFFFFF):
            raise HeaderError(f"{what} values must fit in uint32")
        a = a.astype(_U32)
    return np.ascontiguousarray(a)


def sha256(data: bytes) -> bytes:
    out = ffi.new("uint8_t[32]")
    buf = bytes(data)
    lib.asicrc_sha256(buf, len(buf), out)
    return bytes(ffi.buffer(out, 32))


def sha256d(data: bytes) -> bytes:
    out = ffi.new("uint8_t[32]")
    buf = bytes(data)
    lib.asicrc_sha256d(buf, len(buf), out)
    return bytes(ffi.buffer(out, 32))


def sha256_compress(state: npt.ArrayLike, block: bytes, rounds: int = 64) -> npt.NDArray[np.uint32]:
    """One compression (optionally truncated to `rounds`, feed-forward included) of a 64-byte block."""
    st = np.array(state, dtype=_U32).copy()
    if st.shape != (8,):
        raise HeaderError("state must have 8 uint32 words")
    blk = _need(block, 64, "block")
    lib.asicrc_sha256_compress_rounds(ffi.from_buffer("uint32_t[]", st), blk, int(rounds))
    return st


def midstate(header64: bytes) -> npt.NDArray[np.uint32]:
    """SHA-256 state after the first 64 header bytes (8 words, host order)."""
    out = np.zeros(8, dtype=_U32)
    lib.asicrc_midstate(_need(header64[:64] if len(header64) >= 64 else header64, 64, "header64"),
                        ffi.from_buffer("uint32_t[]", out))
    return out


def hash_difficulty(hash32: bytes) -> float:
    return float(lib.asicrc_hash_difficulty(_need(hash32, 32, "hash")))


def difficulty_to_target(difficulty: float) -> int:
    if not difficulty > 0:
        raise HeaderError(f"difficulty must be > 0, got {difficulty!r}")
    target = int(DIFF1_TARGET / difficulty) if difficulty >= 1 else int(DIFF1_TARGET * (1.0 / difficulty))
    return min(target, (1 << 256) - 1)


def target_to_bytes(target: int) -> bytes:
    if not 0 <= target < (1 << 256):
        raise HeaderError("target must be a 256-bit non-negative integer")
    return int(target).to_bytes(32, "little")


def _target_bytes(target: int | bytes) -> bytes:
    if isinstance(target, int):
        return target_to_bytes(target)
    return _need(target, 32, "target")


@overload
def difficulty_batch(
    header: bytes, nonces: npt.ArrayLike, versions: npt.ArrayLike | None = None, return_hashes: Literal[False] = False
) -> npt.NDArray[np.float64]: ...


@overload
def difficulty_batch(
    header: bytes, nonces: npt.ArrayLike, versions: npt.ArrayLike | None = None, *, return_hashes: Literal[True]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]: ...


@overload
def difficulty_batch(
    header: bytes, nonces: npt.ArrayLike, versions: npt.ArrayLike | None = None, return_hashes: bool = False
) -> npt.NDArray[np.float64] | tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]: ...


def difficulty_batch(
    header: bytes,
    nonces: npt.ArrayLike,
    versions: npt.ArrayLike | None = None,
    return_hashes: bool = False,
) -> npt.NDArray[np.float64] | tuple[npt.NDArray[np.float64], npt.NDArray[np.uint8]]:
    """Share difficulty of header with each nonce (and rolled version, if given)."""
    hdr = _need(header, 80, "header")
    n_arr = _u32(nonces, "nonces")
    v_arr = None if versions is None else _u32(versions, "versions")
    if v_arr is not None and v_arr.shape != n_arr.shape:
        raise HeaderError("versions must have the same length as nonces")
    out = np.empty(n_arr.shape[0], dtype=np.float64)
    hashes = np.empty((n_arr.shape[0], 32), dtype=np.uint8) if return_hashes else None
    lib.asicrc_difficulty_batch(
        hdr,
        ffi.from_buffer("uint32_t[]", n_arr),
        ffi.NULL if v_arr is None else ffi.from_buffer("uint32_t[]", v_arr),
        n_arr.shape[0],
        ffi.from_buffer("double[]", out),
        ffi.NULL if hashes is None else ffi.from_buffer("uint8_t[]", hashes),
    )
    if hashes is not None:
        return out, hashes
    return out


@dataclass(frozen=True, slots=True)
class TargetCheck:
    ok: npt.NDArray[np.bool_]
    hits: int
    rounds: int  # compression rounds executed in total (both compressions)


def meets_target_batch(
    header: bytes,
    nonces: npt.ArrayLike,
    target: int | bytes,
    versions: npt.ArrayLike | None = None,
    early_reject: bool = True,
) -> TargetCheck:
    """Which nonces give a hash <= target. With early_reject the second compression stops after round 61
    when digest word 7 already exceeds the target's top word (exact, never a false reject)."""
    hdr = _need(header, 80, "header")
    n_arr = _u32(nonces, "nonces")
    v_arr = None if versions is None else _u32(versions, "versions")
    ok = np.zeros(n_arr.shape[0], dtype=np.uint8)
    rounds = ffi.new("uint64_t *")
    hits = lib.asicrc_meets_target_batch(
        hdr,
        ffi.from_buffer("uint32_t[]", n_arr),
        ffi.NULL if v_arr is None else ffi.from_buffer("uint32_t[]", v_arr),
        n_arr.shape[0],
        _target_bytes(target),
        1 if early_reject else 0,
        ffi.from_buffer("uint8_t[]", ok),
        rounds,
    )
    return TargetCheck(ok=ok.astype(bool), hits=int(hits), rounds=int(rounds[0]))


def second_compression_states(header: bytes, nonces: npt.ArrayLike, k: int) -> npt.NDArray[np.uint32]:
    """Working state (a..h) after k rounds (0..64) of the second compression, shape (n, 8)."""
    if not 0 <= k <= 64:
        raise HeaderError(f"k must be in 0..64, got {k}")
    hdr = _need(header, 80, "header")
    n_arr = _u32(nonces, "nonces")
    out = np.empty((n_arr.shape[0], 8), dtype=_U32)
    lib.asicrc_second_states_batch(hdr, ffi.from_buffer("uint32_t[]", n_arr), n_arr.shape[0], int(k),
                                   ffi.from_buffer("uint32_t[]", out))
    return out


def search_nonces(
    header: bytes, start: int, count: int, target: int | bytes, max_found: int = 1024
) -> tuple[npt.NDArray[np.uint32], int]:
    """Scan nonces start..start+count-1 (mod 2**32); return those meeting target and hashes done."""
    if count < 0:
        raise HeaderError("count must be >= 0")
    hdr = _need(header, 80, "header")
    out = np.empty(max(1, max_found), dtype=_U32)
    done = ffi.new("uint64_t *")
    found = lib.asicrc_search_nonces(hdr, int(start) & 0xFFFFFFFF, int(count), _target_bytes(target),
                                     ffi.from_buffer("uint32_t[]", out), max_found, done)
    return out[:found].copy(), int(done[0])
