"""Driver benchmark: the UART nonce path (bytes in -> decoded frames -> each nonce re-hashed with its job's header
-> verified/hw-error counts), as `asicrc.drivers.serial.UartChain` runs it (C streaming decoder + one batch sha256d
call per chunk), against the pure-Python reference in the same run (native/reference decoder + hashlib per nonce).

    .venv/bin/python bench/bench_drivers.py [--frames 200000] [--chunk 4096]

Printed: frames/s of both, their ratio, and the headroom over a BM1366 chain's line rate at 1 Mbaud
(1e6 / 10 bits / 11 bytes = 9091 frames/s): the driver must keep up with a saturated line on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import time

import numpy as np

from asicrc.drivers.clock import Clock
from asicrc.drivers.serial.chain import UartChain
from asicrc.drivers.serial.chips import BM1366Ops
from asicrc.native import codecs
from asicrc.native.reference.codecs import ReferenceDecoder

LINE_RATE_FRAMES_S = 1_000_000 / 10 / 11


def make_stream(n: int, header: bytes, job_id: int, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    nonces = rng.integers(0, 1 << 32, n, dtype=np.uint64)
    return b"".join(codecs.bm1366_nonce_reply(int(x), job_id) for x in nonces)


def run_driver(stream: bytes, header: bytes, chunk: int) -> tuple[float, int]:
    chain = UartChain(BM1366Ops(), Clock())
    chain.chips, chain.difficulty = 1, 1.0
    chain._jobs[0] = (header, int.from_bytes(header[:4], "little"))  # what send_job records
    t0 = time.perf_counter()
    for i in range(0, len(stream), chunk):
        chain._on_bytes(stream[i:i + chunk], 0)
    dt = time.perf_counter() - t0
    return dt, chain.stats.nonces + chain.stats.hw_errors


def run_reference(stream: bytes, header: bytes, chunk: int) -> tuple[float, int]:
    dec = ReferenceDecoder("bm1366_reply")
    base_version = int.from_bytes(header[:4], "little")
    seen = verified = 0
    t0 = time.perf_counter()
    for i in range(0, len(stream), chunk):
        for rec in dec.feed(stream[i:i + chunk]):
            if rec["kind"] != codecs.Kind.NONCE:
                continue
            version = base_version | int(rec.get("version_bits", 0))
            h = struct.pack("<I", version) + header[4:76] + struct.pack("<I", int(rec["nonce"]))
            digest = hashlib.sha256(hashlib.sha256(h).digest()).digest()
            verified += int.from_bytes(digest, "little") <= 0xFFFF << 208
            seen += 1
    return time.perf_counter() - t0, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--chunk", type=int, default=4096)
    args = ap.parse_args()
    header = struct.pack("<I", 0x20000000) + os.urandom(72) + b"\0\0\0\0"
    stream = make_stream(args.frames, header, 0)
    ref_n = max(1, args.frames // 20)  # the reference is slow: time it on a prefix
    dt_c, n_c = run_driver(stream, header, args.chunk)
    dt_r, n_r = run_reference(stream[: ref_n * 11], header, args.chunk)
    assert n_c == args.frames and n_r == ref_n, (n_c, n_r)
    rate_c, rate_r = n_c / dt_c, n_r / dt_r
    print(f"UART nonce path, {args.frames} BM1366 frames, chunks of {args.chunk} bytes")
    print(f"  driver (C decode + batch sha256d):     {rate_c:12,.0f} frames/s")
    print(f"  reference (Python decode + hashlib):   {rate_r:12,.0f} frames/s  (on {ref_n} frames)")
    print(f"  ratio driver/reference:                {rate_c / rate_r:12.1f}x")
    print(f"  headroom over 1 Mbaud line rate:       {rate_c / LINE_RATE_FRAMES_S:12.1f}x  "
          "(bench's own target >= 10x; issue 5 sets no speed goal)")


if __name__ == "__main__":
    main()
