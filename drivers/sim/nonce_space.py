"""How a chip's cores split the nonce (and version) space, as the nonces they return show it.

Every core of a chip hashes at the same time, each in its own slice: the slice is hard-wired into bits of the
nonce, so a host can read the core (and chip) off every result. The simulator walks a chip's space with one
index ``k`` per job whose fastest-varying digit is the core, so any run of consecutive hashes touches every core
equally, as the parallel hardware does, and returned nonces carry core ids spread over ``0 .. cores - 1`` (never
the unused values above).

BM1366 (ESP-Miner ``bm1366.c``; bm13xx-rs ``bm1366``), in ``nonce_h`` = the four nonce bytes read big-endian:
bits 25..31 core (112 cores), 17..24 chip field (the chip's address range), 0..16 free. A core's slice per
version is its chip field range x the free bits (ESP-Miner's nonce space per core, 2^32 / 128 / chips); with
version rolling its 8 small cores take the lowest 3 rolled version bits and the rest of the version rolls on
after ``per_version`` nonces of the slice (the hash counting number, reg 0x10); without version rolling the
small core takes free bits 14..16. Nonces run through the free bits first, so early in a job the chip field is
the chip's address, as captures of real chips show.

BM1387 (cgminer-gekko, braiins ``CoreAddress``), in the header-order nonce ``n`` (little-endian uint32 of header
bytes 76..79, = rx0..rx3 on the wire): bits 0..7 chip field, 24..30 core (114 cores), 8..23 and 31 free; the
midstates of multi-midstate work are taken in turn after the cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]

BM1366_CORES = 112
BM1366_SMALL_CORES = 8
BM1366_FREE_BITS = 17  # nonce_h bits 0..16
BM1366_FREE_BITS_NO_ROLLING = 14  # the small core takes bits 14..16 when the version does not roll
BM1387_CORES = 114
BM1387_FREE_BITS = 17  # header bytes 77, 78 and the top bit of byte 79


@dataclass(frozen=True, slots=True)
class Slice:
    """One batch of a chip's work: the nonces, plus what else identifies each hash."""

    nonces: U32  # header-order nonces (uint32 of header bytes 76..79, little-endian)
    version_bits: U32  # BM1366: rolled version bits (already shifted into the mask); BM1387: 0
    midstate: npt.NDArray[np.int64]  # BM1387: which midstate of the work; BM1366: 0
    core: npt.NDArray[np.int64]
    small_core: npt.NDArray[np.int64]


def deposit_bits(values: U64, mask: int) -> U32:
    """Scatter the low bits of ``values`` into the set bits of ``mask``, lowest first (PDEP)."""
    out = np.zeros(values.shape, dtype=np.uint64)
    src = 0
    for bit in range(32):
        if mask >> bit & 1:
            out |= ((values >> np.uint64(src)) & np.uint64(1)) << np.uint64(bit)
            src += 1
    return out.astype(np.uint32)


def _digits(k: U64, *radices: int) -> list[U64]:
    """Mixed-radix digits of ``k``, fastest first; the last element is what is left above them."""
    out = []
    for r in radices:
        out.append(k % np.uint64(r))
        k = k // np.uint64(r)
    out.append(k)
    return out


def bm1366_slot_count(width: int, version_mask: int) -> int:
    """Nonces of one core's slice per version: its chip field values x the free bits."""
    return width << (BM1366_FREE_BITS if version_mask else BM1366_FREE_BITS_NO_ROLLING)


def bm1366_space_size(width: int, version_mask: int, per_version: int) -> int:
    """Distinct hashes of one BM1366 chip whose chip field spans ``width`` values."""
    if not version_mask:
        return BM1366_CORES * BM1366_SMALL_CORES * bm1366_slot_count(width, 0)
    rolls = 1 << max(0, bin(version_mask).count("1") - 3)
    return BM1366_CORES * BM1366_SMALL_CORES * per_version * rolls


def bm1366_slice(start: int, count: int, lo: int, width: int, version_mask: int, per_version: int) -> Slice:
    """Hashes ``start .. start + count`` (modulo the space) of the BM1366 chip whose chip field is
    ``[lo, lo + width)``. Each core's 8 small cores hash 8 versions (the lowest 3 rolled bits) of the same nonce;
    the core walks ``per_version`` nonces of its slice (free bits first, then the chip field) before the rest
    of the version rolls on (the hash counting number); without rolling the small cores split the free bits."""
    size = bm1366_space_size(width, version_mask, per_version)
    k = (np.uint64(start % size) + np.arange(count, dtype=np.uint64)) % np.uint64(size)
    if version_mask:
        core, small, slot, roll = _digits(k, BM1366_CORES, BM1366_SMALL_CORES, per_version)
        free_bits = BM1366_FREE_BITS
        free = slot % np.uint64(1 << free_bits)
        vbits = deposit_bits((roll << np.uint64(3)) | small, version_mask)
    else:
        core, small, slot = _digits(k, BM1366_CORES, BM1366_SMALL_CORES)
        free_bits = BM1366_FREE_BITS_NO_ROLLING
        free = (small << np.uint64(free_bits)) | (slot % np.uint64(1 << free_bits))
        vbits = np.zeros(count, dtype=np.uint32)
    field = np.uint64(lo) + (slot >> np.uint64(free_bits)) % np.uint64(width)
    nonce_h = (core << np.uint64(25)) | (field << np.uint64(17)) | free
    return Slice(nonce_h.astype(np.uint32).byteswap(), vbits, np.zeros(count, dtype=np.int64),
                 core.astype(np.int64), small.astype(np.int64))


def bm1387_space_size(width: int, midstates: int) -> int:
    return BM1387_CORES * max(1, midstates) * width * (1 << BM1387_FREE_BITS)


def bm1387_slice(start: int, count: int, lo: int, width: int, midstates: int) -> Slice:
    """Hashes ``start .. start + count`` of the BM1387 chip whose chip field (header byte 76) is
    ``[lo, lo + width)``, over ``midstates`` midstates of the work; each core walks its slice free bits first."""
    size = bm1387_space_size(width, midstates)
    k = (np.uint64(start % size) + np.arange(count, dtype=np.uint64)) % np.uint64(size)
    core, mid, slot = _digits(k, BM1387_CORES, max(1, midstates))
    free = slot % np.uint64(1 << BM1387_FREE_BITS)
    field = np.uint64(lo) + (slot >> np.uint64(BM1387_FREE_BITS)) % np.uint64(width)
    top = core | ((free >> np.uint64(16)) << np.uint64(7))
    nonce = field | ((free & np.uint64(0xFFFF)) << np.uint64(8)) | (top << np.uint64(24))
    zeros = np.zeros(count, dtype=np.int64)
    return Slice(nonce.astype(np.uint32), np.zeros(count, dtype=np.uint32), mid.astype(np.int64),
                 core.astype(np.int64), zeros)


__all__ = ["BM1366_CORES", "BM1387_CORES", "Slice", "bm1366_slice", "bm1366_slot_count", "bm1366_space_size",
           "bm1387_slice", "bm1387_space_size", "deposit_bits"]
