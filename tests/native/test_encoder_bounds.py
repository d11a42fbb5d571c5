"""Every C encoder that writes into ``uint8_t *out`` takes ``out_len``: a buffer one byte short is refused (returns
0, writes nothing), an exact one is filled and not a byte past it is touched, and the result equals what the
Python wrapper (which passes out_len itself) returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from asicrc.native import codecs
from asicrc.native._core import ffi, lib

HEADER = bytes(range(80))
PAYLOAD82 = bytes(range(100, 182))
MIDSTATES = bytes(range(64))
GUARD = 0xA5
SLACK = 16

# name -> (frame length, call(out, out_len) -> written, the Python wrapper's bytes)
Encoder = tuple[int, Callable[[Any, int], int], bytes]
ENCODERS: dict[str, Encoder] = {
    "bm1366_cmd": (11, lambda o, n: lib.asicrc_bm1366_cmd(0x51, b"\x00\xa8\x00\x07\x00\x00", 6, o, n),
                   codecs.bm1366_cmd(0x51, b"\x00\xa8\x00\x07\x00\x00")),
    "bm1366_job": (88, lambda o, n: lib.asicrc_bm1366_job(PAYLOAD82, o, n),
                   codecs.bm1366_job_frame(PAYLOAD82)),
    "bm1366_job_payload": (82, lambda o, n: lib.asicrc_bm1366_job_payload(HEADER, 0x28, o, n),
                           codecs.bm1366_job_payload(HEADER, 0x28)),
    "bm1387_cmd": (9, lambda o, n: lib.asicrc_bm1387_cmd(0x58, b"\x00\x1c\x00\x00\x00\x00", 6, o, n),
                   codecs.bm1387_cmd(0x58, b"\x00\x1c\x00\x00\x00\x00")),
    "bm1387_work": (86, lambda o, n: lib.asicrc_bm1387_work(7, 0x1703A30C, 0x5B9D5C77, b"\x01\x02\x03\x04",
                                                            MIDSTATES, 2, o, n),
                    codecs.bm1387_work_raw(7, 0x1703A30C, 0x5B9D5C77, b"\x01\x02\x03\x04",
                                           [MIDSTATES[:32], MIDSTATES[32:]])),
    "bm1387_midstate_wire": (32, lambda o, n: lib.asicrc_bm1387_midstate_wire(HEADER, 0x20000000, o, n),
                             codecs.bm1387_midstate_wire(HEADER, 0x20000000)),
    "bm1387_work_from_header": (
        150, lambda o, n: lib.asicrc_bm1387_work_from_header(HEADER, 9, ffi.new("uint32_t[]", [1, 2, 3, 4]), 4, o, n),
        codecs.bm1387_work(HEADER, 9, [1, 2, 3, 4])),
    "bm1366_nonce_reply": (11, lambda o, n: lib.asicrc_bm1366_nonce_reply(0x12345678, 0, 0x28, 0x0517, o, n),
                           codecs.bm1366_nonce_reply(0x12345678, 0x28, version_bits=0x0517 << 13)),
    "bm1366_register_reply": (11, lambda o, n: lib.asicrc_bm1366_register_reply(0x13971800, 4, 0, o, n),
                              codecs.bm1366_register_reply(0x13971800, 4, 0)),
    "bm1387_nonce_reply": (7, lambda o, n: lib.asicrc_bm1387_nonce_reply(0xDEADBEEF, 1, 2, o, n),
                           codecs.bm1387_nonce_reply(0xDEADBEEF, 2, extra=1)),
    "bm1387_register_reply": (7, lambda o, n: lib.asicrc_bm1387_register_reply(0x13870000, o, n),
                              codecs.bm1387_register_reply(0x13870000)),
}


def test_every_encoder_with_an_out_pointer_is_covered() -> None:
    """Each exported function with a ``uint8_t *out`` parameter followed by ``size_t out_len`` is listed above,
    and no encoder is left with an unbounded ``out`` (hashing outputs are fixed 32-byte digests)."""
    with_out_len = set()
    for name in dir(lib):
        if not name.startswith("asicrc_bm13"):
            continue
        args = ffi.typeof(getattr(lib, name)).args
        assert [a.cname for a in args[-2:]] == ["uint8_t *", "size_t"], name
        with_out_len.add(name.removeprefix("asicrc_"))
    assert with_out_len == set(ENCODERS)


def guarded(size: int) -> Any:
    return ffi.new("uint8_t[]", bytes([GUARD]) * (size + SLACK))


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_short_buffer_is_refused_not_overrun(name: str) -> None:
    length, call, _ = ENCODERS[name]
    for short in (0, 1, length - 1):
        buf = guarded(length)
        assert call(buf, short) == 0, f"{name} wrote into a {short}-byte buffer for a {length}-byte frame"
        assert bytes(ffi.buffer(buf, length + SLACK)) == bytes([GUARD]) * (length + SLACK), name


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_exact_buffer_is_filled_and_nothing_past_it(name: str) -> None:
    length, call, wrapper_bytes = ENCODERS[name]
    buf = guarded(length)
    assert call(buf, length) == length
    written = bytes(ffi.buffer(buf, length + SLACK))
    assert written[length:] == bytes([GUARD]) * SLACK, f"{name} wrote past out_len"
    assert written[:length] == wrapper_bytes, f"{name}: the wrapper's frame differs from the bounded C call"
