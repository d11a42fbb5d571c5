"""LBRY (LBC) proof of work and share difficulty, for the Goldshell LB-Box.

PoW of the 112-byte header (version ‖ prevhash ‖ merkle ‖ claimtrie ‖ ntime ‖ nbits ‖ nonce):
    h = sha256d(header); s = sha512(h); pow = sha256d(ripemd160(s[:32]) ‖ ripemd160(s[32:]))
compared, like Bitcoin, as a little-endian 256-bit integer. LBRY pools and miners scale the Stratum
difficulty by 256 (cpuminer-multi sets the target for diff/256), so a pool difficulty D means
target = diff1 · 256 / D.
"""

from __future__ import annotations

import hashlib

from asicrc.native import DIFF1_TARGET, sha256d

LBRY_HEADER_SIZE = 112
LBRY_DIFF_MULTIPLIER = 256.0


def _ripemd160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


def lbry_pow(header: bytes) -> bytes:
    """LBRY PoW hash (internal byte order; display order is reversed)."""
    if len(header) != LBRY_HEADER_SIZE:
        raise ValueError(f"LBRY header must be {LBRY_HEADER_SIZE} bytes, got {len(header)}")
    s = hashlib.sha512(sha256d(header)).digest()
    return sha256d(_ripemd160(s[:32]) + _ripemd160(s[32:]))


def lbry_share_difficulty(pow_hash: bytes) -> float:
    """Pool-unit share difficulty of an LBRY PoW hash (includes the ×256 LBRY scaling)."""
    value = int.from_bytes(pow_hash, "little")
    if value == 0:
        return float("inf")
    return (256 * DIFF1_TARGET) / value  # int / int: correctly rounded


def lbry_target(difficulty: float) -> int:
    """256-bit target (little-endian integer) for an LBRY pool difficulty."""
    if not difficulty > 0:
        raise ValueError(f"difficulty must be > 0, got {difficulty!r}")
    return min(int(DIFF1_TARGET * LBRY_DIFF_MULTIPLIER / difficulty), (1 << 256) - 1)
