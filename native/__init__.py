"""asicrc.native: the C core (cffi, API mode) behind a numpy-friendly API.

Hashing is re-exported here; serial frames live in ``asicrc.native.codecs`` (CRCs, BM1366/BM1387 encoders and
streaming decoders), register values and sequences in ``asicrc.native.registers``, the pure-Python reference in
``asicrc.native.reference`` (see docs/native.md).

Conventions used everywhere in asicrc:
- ``header`` is the 80-byte serialized block header (version LE at 0..3, prevhash and merkle root in
  internal byte order, ntime/nbits/nonce LE at 68/72/76).
- A hash is the 32-byte sha256d digest in internal order (display order is its reverse).
- Targets are 32-byte little-endian 256-bit integers; a hash meets a target when int_le(hash) <= target.
- Share difficulty = (0xFFFF * 2**208) / int_le(hash) (Bitcoin diff-1 convention).
"""

from __future__ import annotations

from .hashing import (
    DIFF1_TARGET,
    difficulty_batch,
    difficulty_to_target,
    hash_difficulty,
    meets_target_batch,
    midstate,
    search_nonces,
    second_compression_states,
    sha256,
    sha256_compress,
    sha256d,
    target_to_bytes,
)

__all__ = [
    "DIFF1_TARGET",
    "difficulty_batch",
    "difficulty_to_target",
    "hash_difficulty",
    "meets_target_batch",
    "midstate",
    "search_nonces",
    "second_compression_states",
    "sha256",
    "sha256_compress",
    "sha256d",
    "target_to_bytes",
]
