"""SHA-256d against real block headers and hashlib; batch/early-reject/k-round APIs against full hashing."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import asicrc.native as nat

# Bitcoin genesis block header (block 0), serialized; its hash is a public literal.
GENESIS_HEADER = bytes.fromhex(
    "01000000" + "00" * 32
    + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a"
    + "29ab5f49" + "ffff001d" + "1dac2b7c"
)
GENESIS_HASH_DISPLAY = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"

# Block 125552 (used by the Bitcoin wiki "Block hashing algorithm" page).
B125552_HEADER = bytes.fromhex(
    "01000000"
    "81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000"
    "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b"
    "c7f5d74d" "f2b9441a" "42a14695"
)
B125552_HASH_DISPLAY = "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"


def ref_sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


@pytest.mark.parametrize(("header", "display"), [(GENESIS_HEADER, GENESIS_HASH_DISPLAY),
                                                 (B125552_HEADER, B125552_HASH_DISPLAY)])
def test_real_block_hashes(header: bytes, display: str) -> None:
    assert nat.sha256d(header)[::-1].hex() == display
    nonce = struct.unpack_from("<I", header, 76)[0]
    diffs, hashes = nat.difficulty_batch(header, np.array([nonce], dtype=np.uint32), return_hashes=True)
    assert bytes(hashes[0])[::-1].hex() == display
    # The block met its own network target, so its share difficulty is at least the network difficulty (>=1).
    assert diffs[0] >= 1.0


def test_genesis_difficulty_value() -> None:
    # 0xFFFF*2^208 / int(hash) for the genesis hash is 2536.8 (a well-known figure for block 0's share difficulty)
    d = nat.hash_difficulty(nat.sha256d(GENESIS_HEADER))
    assert 2536 < d < 2537


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=300))
def test_sha256_matches_hashlib(data: bytes) -> None:
    assert nat.sha256(data) == hashlib.sha256(data).digest()
    assert nat.sha256d(data) == ref_sha256d(data)


def test_midstate_feeds_forward() -> None:
    mid = nat.midstate(GENESIS_HEADER[:64])
    # finishing the second block from the midstate by hand equals the first sha256 of the header
    tail = GENESIS_HEADER[64:] + b"\x80" + b"\x00" * 45 + (640).to_bytes(2, "big")
    out = nat.sha256_compress(mid, tail)
    assert b"".join(int(w).to_bytes(4, "big") for w in out) == hashlib.sha256(GENESIS_HEADER).digest()


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.integers(0, 2**32 - 1), st.booleans())
def test_batch_difficulty_and_versions(header: bytes, start: int, roll: bool) -> None:
    nonces = (np.arange(64, dtype=np.uint64) + start).astype(np.uint32)
    versions = (np.arange(64, dtype=np.uint32) << 13 | 0x20000000) if roll else None
    diffs, hashes = nat.difficulty_batch(header, nonces, versions, return_hashes=True)
    for i in (0, 17, 63):
        hdr = bytearray(header)
        struct.pack_into("<I", hdr, 76, int(nonces[i]))
        if versions is not None:
            struct.pack_into("<I", hdr, 0, int(versions[i]))
        h = ref_sha256d(bytes(hdr))
        assert bytes(hashes[i]) == h
        assert diffs[i] == pytest.approx((0xFFFF << 208) / int.from_bytes(h, "little"), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=80, max_size=80), st.sampled_from([1 / 2**8, 1 / 2**12, 1 / 2**16, 1e-9]))
def test_early_reject_is_exact(header: bytes, difficulty: float) -> None:
    """The round-61 reject never drops a nonce that meets the target, and never keeps one that does not."""
    nonces = np.arange(4096, dtype=np.uint32)
    target = nat.difficulty_to_target(difficulty)
    early = nat.meets_target_batch(header, nonces, target, early_reject=True)
    full = nat.meets_target_batch(header, nonces, target, early_reject=False)
    _, hashes = nat.difficulty_batch(header, nonces, return_hashes=True)
    truth = np.array([int.from_bytes(bytes(h), "little") <= target for h in hashes])
    assert (early.ok == truth).all() and (full.ok == truth).all()
    assert early.rounds < full.rounds  # rounds were actually saved
    found, done = nat.search_nonces(header, 0, 4096, target, max_found=4096)
    assert done == 4096 and list(found) == list(np.nonzero(truth)[0])


def test_k_round_states_match_truncated_compression() -> None:
    nonces = np.array([0, 1, 0xDEADBEEF], dtype=np.uint32)
    for k in (0, 1, 5, 8, 64):
        states = nat.second_compression_states(GENESIS_HEADER, nonces, k)
        for row, nonce in zip(states, nonces, strict=True):
            hdr = GENESIS_HEADER[:76] + struct.pack("<I", int(nonce))
            first = hashlib.sha256(hdr).digest()
            block = first + b"\x80" + b"\x00" * 29 + (256).to_bytes(2, "big")
            iv = np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                           0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.uint32)
            # compress_rounds adds the feed-forward; subtract it to get the working state
            after = nat.sha256_compress(iv, block, rounds=k)
            assert ((after - iv).astype(np.uint32) == row).all()
        if k == 64:
            final = (states + np.array([0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F,
                                        0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.uint32)).astype(np.uint32)
            h = b"".join(int(w).to_bytes(4, "big") for w in final[0])
            assert h == ref_sha256d(GENESIS_HEADER[:76] + struct.pack("<I", 0))


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="header must be exactly 80 bytes"):
        nat.difficulty_batch(b"\x00" * 79, np.zeros(1, dtype=np.uint32))
    with pytest.raises(ValueError, match=r"difficulty must be > 0"):
        nat.difficulty_to_target(0)
    with pytest.raises(ValueError, match=r"k must be in 0\.\.64"):
        nat.second_compression_states(GENESIS_HEADER, np.zeros(1, dtype=np.uint32), 65)
