"""Random frame streams with recorded corruption, shared by the property tests (and usable by bench/fuzz)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asicrc.native import codecs as c

MODES = ("bm1366_reply", "bm1366_host", "bm1387_reply", "bm1387_host")
DECODERS: dict[str, type[c.StreamDecoder]] = {
    "bm1366_reply": c.BM1366Decoder,
    "bm1366_host": c.BM1366HostDecoder,
    "bm1387_reply": c.BM1387Decoder,
    "bm1387_host": c.BM1387HostDecoder,
}


def random_frame(mode: str, rng: random.Random) -> bytes:
    u32 = rng.getrandbits
    if mode == "bm1366_reply":
        if rng.random() < 0.7:
            return c.bm1366_nonce_reply(u32(32), 8 * rng.randrange(16), rng.randrange(8), u32(16) << 13, u32(8))
        return c.bm1366_register_reply(u32(32), u32(8), u32(8))
    if mode == "bm1387_reply":
        if rng.random() < 0.7:
            return c.bm1387_nonce_reply(u32(32), u32(8), u32(8))
        return c.bm1387_register_reply(u32(32))
    if mode == "bm1366_host":
        if rng.random() < 0.2:
            return c.bm1366_job(rng.randbytes(80), 8 * rng.randrange(16))
        hdr = rng.choice([0x40, 0x41, 0x42, 0x43, 0x50, 0x51, 0x52, 0x53])
        return c.bm1366_cmd(hdr, rng.randbytes(rng.choice([2, 6])))
    if rng.random() < 0.2:
        return c.bm1387_work(rng.randbytes(80), u32(8), [u32(32) for _ in range(rng.randint(1, 4))])
    hdr = rng.choice([0x41, 0x44, 0x45, 0x48, 0x51, 0x54, 0x55, 0x58, 0x42, 0x46, 0x47])
    return c.bm1387_cmd(hdr, rng.randbytes(rng.choice([2, 6])))


@dataclass
class Stream:
    data: bytes
    frames: list[tuple[int, bytes, bool]] = field(default_factory=list)  # (offset, frame, intact)
    corruption_sites: list[int] = field(default_factory=list)  # offsets where garbage/damage starts


def build_stream(mode: str, seed: int, n_frames: int, p_garbage: float, p_damage: float) -> Stream:
    rng = random.Random(seed)
    out = bytearray()
    s = Stream(b"")
    for _ in range(n_frames):
        if rng.random() < p_garbage:
            s.corruption_sites.append(len(out))
            out += rng.randbytes(rng.randint(1, 24))
        frame = random_frame(mode, rng)
        start = len(out)
        if rng.random() < p_damage:
            s.corruption_sites.append(start)
            b = bytearray(frame)
            if rng.random() < 0.5:  # dropped bytes
                i = rng.randrange(len(b))
                del b[i:i + rng.randint(1, 4)]
            else:  # flipped bits
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            out += b
            s.frames.append((start, frame, False))
        else:
            out += frame
            s.frames.append((start, frame, True))
    s.data = bytes(out)
    return s


def chunked(data: bytes, seed: int, max_chunk: int) -> list[bytes]:
    rng = random.Random(seed ^ 0x5A5A)
    chunks, i = [], 0
    while i < len(data):
        n = rng.randint(1, max_chunk)
        chunks.append(data[i:i + n])
        i += n
    return chunks


def record_dict(rec: np.void) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in rec.dtype.names or ():
        if name == "pad":
            continue
        if name == "frame":
            out[name] = bytes(rec["frame"][: int(rec["frame_len"])])
        else:
            out[name] = int(rec[name])
    return out
