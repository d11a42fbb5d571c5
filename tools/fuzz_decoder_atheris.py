"""atheris fuzz target for the C frame decoder, run over an ASan+UBSan build (tools/fuzz_build_asan.py).

Run through tools/fuzz_decoder.sh (it builds the module and preloads the sanitizer runtime). Input layout as in
tools/fuzz_decoder_harness.c: byte 0 = mode | emit_bad<<2, byte 1 = chunking seed, rest = stream. Each input is
fed in random chunks and checked for byte accounting, crc_ok, and that every good record's bytes decode alone as
one good frame (record-for-record equality with the pure-Python reference is the job of tests/native).
The C code is built with -fsanitize-coverage=trace-cmp, so libFuzzer's value profile (-use_value_profile=1)
gets feedback from the decoder's comparisons even though gcc has no -fsanitize=fuzzer.
"""

from __future__ import annotations

import os
import random
import sys
from typing import TYPE_CHECKING

import atheris

if TYPE_CHECKING:  # _core_asan is the sanitizer build of the same declarations (tools/fuzz_build_asan.py)
    from asicrc.native._core import ffi, lib
elif __name__ == "__main__" and "--seed-corpus" not in sys.argv:
    sys.path.insert(0, os.environ.get("ASICRC_FUZZ_BUILD", "build/fuzz"))
    from _core_asan import ffi, lib

REPLY_FIELDS = ("offset", "nonce", "value", "version_bits", "kind", "crc_ok", "job_id", "small_core", "midstate",
                "chip", "core", "chip_addr", "reg", "flags")
HOST_FIELDS = ("offset", "value", "nbits", "ntime", "version", "starting_nonce", "frame_len", "kind", "crc_ok", "hdr",
               "length", "chip_addr", "reg", "job_id", "num_midstates")


def as_dict(rec: object, reply: bool) -> dict[str, object]:
    out: dict[str, object] = {f: int(getattr(rec, f)) for f in (REPLY_FIELDS if reply else HOST_FIELDS)}
    if not reply:
        out["frame"] = bytes(ffi.buffer(rec.frame, int(rec.frame_len)))  # type: ignore[attr-defined]
    return out


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    mode, emit_bad, seed = data[0] & 3, (data[0] >> 2) & 1, data[1]
    stream = data[2:]
    reply = mode in (lib.ASICRC_MODE_BM1366_REPLY, lib.ASICRC_MODE_BM1387_REPLY)
    dec = ffi.new("asicrc_decoder *")
    lib.asicrc_decoder_init(dec, mode, 256, emit_bad)
    cap = len(stream) + 160
    out = ffi.new("asicrc_reply[]" if reply else "asicrc_host_frame[]", cap)
    rng = random.Random(seed)
    records, pos = [], 0
    while pos < len(stream):
        take = rng.randint(1, 97)
        chunk = stream[pos:pos + take]
        n = lib.asicrc_decoder_feed(dec, chunk, len(chunk), out, cap)
        records += [as_dict(out[i], reply) for i in range(n)]
        pos += take
    assert dec.overflow == 0
    good = 0
    for r in records:
        flen = (11 if mode == lib.ASICRC_MODE_BM1366_REPLY else 7) if reply else int(r["frame_len"])  # type: ignore[call-overload]
        assert emit_bad or r["crc_ok"] == 1
        if r["crc_ok"]:
            good += flen
    assert dec.bytes_in == len(stream)
    assert dec.bytes_dropped + dec.pend_len + good == len(stream), "byte accounting"
    for r in records:
        if r["crc_ok"]:  # the bytes of every good record decode alone as exactly that record
            start = int(r["offset"])  # type: ignore[call-overload]
            flen = (11 if mode == lib.ASICRC_MODE_BM1366_REPLY else 7) if reply else int(r["frame_len"])  # type: ignore[call-overload]
            alone = ffi.new("asicrc_decoder *")
            lib.asicrc_decoder_init(alone, mode, 256, 0)
            assert lib.asicrc_decoder_feed(alone, stream[start:start + flen], flen, out, cap) == 1
            assert alone.bytes_dropped == 0 and alone.pend_len == 0


def seed_corpus(directory: str) -> None:
    """Valid frame streams for every mode, so mutations start from real framing."""
    from asicrc.native.reference import codecs as rc

    os.makedirs(directory, exist_ok=True)
    rng = random.Random(1)
    header = rng.randbytes(80)
    streams = [
        rc.bm1366_register_reply(0x13660000) + rc.bm1366_nonce_reply(0x12345678, 8, 3, 0x2000, 1),
        rc.bm1366_cmd(0x51, bytes.fromhex("00a49000ffff")) + rc.bm1366_job(header, 8) + rc.bm1366_cmd(0x53, b"\0\0"),
        rc.bm1387_register_reply(0x13879000) + rc.bm1387_nonce_reply(0xB2957C02, 0x75, 3),
        rc.bm1387_cmd(0x55, b"\0\0") + rc.bm1387_work_raw(1, 2, 3, b"abcd", [rng.randbytes(32)] * 2),
    ]
    for mode, s in enumerate(streams):
        for flags in (0, 4):
            with open(os.path.join(directory, f"seed_{mode}_{flags}"), "wb") as fh:
                fh.write(bytes([mode | flags, 0]) + s * 3)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--seed-corpus":
        seed_corpus(sys.argv[2])
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
