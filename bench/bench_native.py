"""Benchmarks of the native core, each printed as a ratio against a reference measured in the same run.

    .venv/bin/python bench/bench_native.py [--frames 1000000] [--ref-frames 50000] [--nonces 200000] [--encodes 20000]

1. Decode throughput of the C streaming decoder vs the pure-Python reference (asicrc.native.reference) on one
   stream of BM1366 chip replies (and BM1387 replies). The reference decodes a prefix of the same stream (it needs
   ~minutes for 1e6 frames; pass --ref-frames 1000000 to run it all); both rates are frames/s.
   Goals: C >= 50x the reference and >= 5e6 frames/s on one core (>= 500x the BM1366 line rate at 1 Mbaud).
2. sha256d share verifications/s: batch C (difficulty_batch, meets_target_batch) vs a hashlib loop on the same
   header and nonces (goal >= 3x).
3. The exact round-61 early reject: compression rounds and time with and without it on the same random nonces.
4. Encode rate of the Python wrappers over the bounded C encoders vs the pure-Python reference encoders (same
   frames; the wrappers validate arguments and pass out_len, so this is the per-frame cost a driver pays).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import struct
import sys
import time
from collections.abc import Callable

import numpy as np

from asicrc.native import codecs, difficulty_batch, difficulty_to_target, meets_target_batch
from asicrc.native.reference import ReferenceDecoder
from asicrc.native.reference import codecs as reference_codecs

LINE_RATE_1366 = 1_000_000 / 10 / 11  # 1 Mbaud, 10 bits per byte on the wire, 11-byte replies


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def reply_stream(chip: str, n: int, seed: int) -> tuple[bytes, int]:
    """n replies (70% nonces, 30% register reads) built by the C encoders; returns (bytes, frame length)."""
    rng = random.Random(seed)
    # A few thousand distinct frames tiled to n keeps stream construction fast; the decoder still parses and
    # checks every frame's CRC.
    uniq = []
    for _ in range(4096):
        if chip == "bm1366":
            if rng.random() < 0.7:
                uniq.append(codecs.bm1366_nonce_reply(rng.getrandbits(32), 8 * rng.randrange(16), rng.randrange(8),
                                                      rng.getrandbits(16) << 13))
            else:
                uniq.append(codecs.bm1366_register_reply(rng.getrandbits(32), rng.getrandbits(8), rng.getrandbits(8)))
        elif rng.random() < 0.7:
            uniq.append(codecs.bm1387_nonce_reply(rng.getrandbits(32), rng.getrandbits(8), rng.getrandbits(8)))
        else:
            uniq.append(codecs.bm1387_register_reply(rng.getrandbits(32)))
    block = b"".join(uniq)
    reps = -(-n // len(uniq))
    return (block * reps)[: n * len(uniq[0])], len(uniq[0])


def bench_decode(chip: str, frames: int, ref_frames: int) -> None:
    data, flen = reply_stream(chip, frames, 1)
    cls = codecs.BM1366Decoder if chip == "bm1366" else codecs.BM1387Decoder
    mode = "bm1366_reply" if chip == "bm1366" else "bm1387_reply"

    def c_whole() -> None:
        recs = cls().feed(data)
        assert len(recs) == frames

    def c_chunked() -> None:  # 4 KiB reads, as a UART driver would deliver them
        dec = cls()
        mv = memoryview(data)
        got = sum(len(dec.feed(mv[i:i + 4096])) for i in range(0, len(data), 4096))
        assert got == frames

    t_whole, t_chunk = best_of(c_whole), best_of(c_chunked)
    ref_n = min(ref_frames, frames)
    ref_data = data[: ref_n * flen]
    t0 = time.perf_counter()
    ref_recs = ReferenceDecoder(mode).feed(ref_data)
    t_ref = time.perf_counter() - t0
    assert len(ref_recs) == ref_n
    rate_c, rate_chunk, rate_ref = frames / t_whole, frames / t_chunk, ref_n / t_ref
    print(f"[decode {chip}] {frames} frames ({len(data) / 1e6:.1f} MB): C one call {rate_c / 1e6:.2f} M frames/s, "
          f"C 4 KiB chunks {rate_chunk / 1e6:.2f} M frames/s; Python reference ({ref_n} frames of the same stream) "
          f"{rate_ref / 1e3:.1f} k frames/s")
    print(f"[decode {chip}] ratio C/reference = {rate_c / rate_ref:.0f}x (chunked {rate_chunk / rate_ref:.0f}x; "
          f"goal >= 50x); C = {rate_c / 1e6:.2f}e6 frames/s (goal >= 5e6)"
          + (f"; {rate_c / LINE_RATE_1366:.0f}x the 1 Mbaud line rate" if chip == "bm1366" else ""))


def bench_sha256d(n: int) -> None:
    rng = np.random.default_rng(2)
    header = bytes(rng.integers(0, 256, 80, dtype=np.uint8))
    nonces = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    target_diff = 1.0
    target = difficulty_to_target(target_diff)
    prefix = header[:76]
    nonce_list = nonces.tolist()

    def hashlib_loop() -> int:
        hits = 0
        sha = hashlib.sha256
        for nonce in nonce_list:
            h = sha(sha(prefix + struct.pack("<I", nonce)).digest()).digest()
            hits += int.from_bytes(h, "little") <= target
        return hits

    t_py = best_of(hashlib_loop, 2)
    t_diff = best_of(lambda: difficulty_batch(header, nonces))
    t_full = best_of(lambda: meets_target_batch(header, nonces, target, early_reject=False))
    t_early = best_of(lambda: meets_target_batch(header, nonces, target, early_reject=True))
    # same answers before comparing speed
    early = meets_target_batch(header, nonces, target, early_reject=True)
    full = meets_target_batch(header, nonces, target, early_reject=False)
    assert early.hits == full.hits == hashlib_loop() and np.array_equal(early.ok, full.ok)
    r = {name: n / t for name, t in (("hashlib", t_py), ("diff", t_diff), ("full", t_full), ("early", t_early))}
    print(f"[sha256d] {n} nonces: hashlib loop {r['hashlib'] / 1e6:.2f} M/s; C difficulty_batch "
          f"{r['diff'] / 1e6:.2f} M/s ({r['diff'] / r['hashlib']:.1f}x); C meets_target_batch full "
          f"{r['full'] / 1e6:.2f} M/s ({r['full'] / r['hashlib']:.1f}x), early reject {r['early'] / 1e6:.2f} M/s "
          f"({r['early'] / r['hashlib']:.1f}x; goal >= 3x)")
    saved = 1 - early.rounds / full.rounds
    print(f"[early reject] diff {target_diff:g} target, {n} random nonces, {full.hits} hits: rounds "
          f"{early.rounds} vs {full.rounds} full ({saved * 100:.2f}% saved, {early.rounds / n:.2f} vs "
          f"{full.rounds / n:.0f} rounds/nonce); time {t_early / t_full:.3f}x of full")


def bench_encode(n: int) -> None:
    rng = random.Random(3)
    header = rng.randbytes(80)
    mids = [rng.randbytes(32) for _ in range(4)]
    nonces = [rng.getrandbits(32) for _ in range(n)]
    c_calls: dict[str, Callable[[], object]] = {
        "bm1366_nonce_reply": lambda: [codecs.bm1366_nonce_reply(x, 8 * (x & 15)) for x in nonces],
        "bm1366_job": lambda: [codecs.bm1366_job(header, 8 * (x & 15)) for x in nonces],
        "bm1387_work_raw": lambda: [codecs.bm1387_work_raw(x & 0x7F, 0x1703A30C, x, header[64:68], mids)
                                    for x in nonces],
    }
    ref_calls: dict[str, Callable[[], object]] = {
        "bm1366_nonce_reply": lambda: [reference_codecs.bm1366_nonce_reply(x, 8 * (x & 15)) for x in nonces],
        "bm1366_job": lambda: [reference_codecs.bm1366_job(header, 8 * (x & 15)) for x in nonces],
        "bm1387_work_raw": lambda: [reference_codecs.bm1387_work_raw(x & 0x7F, 0x1703A30C, x, header[64:68], mids)
                                    for x in nonces],
    }
    for name, c_call in c_calls.items():
        assert c_call() == ref_calls[name](), f"{name}: C and reference frames differ"
        t_c, t_ref = best_of(c_call), best_of(ref_calls[name], 2)
        print(f"[encode {name}] {n} frames: C {n / t_c / 1e3:.0f} k frames/s, reference {n / t_ref / 1e3:.0f} "
              f"k frames/s, ratio C/reference = {t_ref / t_c:.1f}x")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--ref-frames", type=int, default=50_000)
    p.add_argument("--nonces", type=int, default=200_000)
    p.add_argument("--encodes", type=int, default=20_000)
    args = p.parse_args(argv)
    print(f"bench_native: python {sys.version.split()[0]}, {os.cpu_count()} CPUs visible, one thread")
    bench_decode("bm1366", args.frames, args.ref_frames)
    bench_decode("bm1387", args.frames, args.ref_frames)
    bench_sha256d(args.nonces)
    bench_encode(args.encodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
