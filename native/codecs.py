"""BM1366 / BM1387 serial frames over the C core: CRCs, encoders for both directions, streaming decoders.

Directions (names say who sends the bytes):
- host -> chip (what a UART driver writes, what a simulated chip reads):
  encode ``bm1366_cmd``/``bm1366_write_reg``/``bm1366_read_reg``/``bm1366_job``... and ``bm1387_*`` likewise;
  decode with ``BM1366HostDecoder`` / ``BM1387HostDecoder`` -> ``HOST_FRAME_DTYPE`` records.
- chip -> host (what a simulated chip writes, what a UART driver reads):
  encode ``bm1366_nonce_reply``/``bm1366_register_reply``/``bm1387_nonce_reply``/``bm1387_register_reply``;
  decode with ``BM1366Decoder`` / ``BM1387Decoder`` -> ``REPLY_DTYPE`` records.

Decoders keep partial frames between ``feed`` calls (any chunking gives the same records), resynchronize after
garbage / bad CRC / dropped bytes, never return a record with a bad CRC (unless ``emit_bad=True``, for capture
debugging) and count what they dropped in ``.stats``. Nonces are uint32 values of header bytes 76..79
(little-endian), i.e. directly usable with ``asicrc.native.difficulty_batch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt

from ._core import ffi, lib

if TYPE_CHECKING:
    from ._core import CData  # a name of the typing stub only (tools/typecheck.py)


class FrameError(ValueError):
    """An argument cannot be encoded into a frame (names what was wrong)."""


class Kind(IntEnum):
    """Record kinds (``record["kind"]``)."""

    NONCE = lib.ASICRC_KIND_NONCE
    REGISTER = lib.ASICRC_KIND_REGISTER
    COMMAND = lib.ASICRC_KIND_COMMAND
    JOB = lib.ASICRC_KIND_JOB


MAX_FRAME = int(lib.ASICRC_MAX_FRAME)

_NUMPY_OF_C = {"uint8_t": "u1", "uint16_t": "<u2", "uint32_t": "<u4", "uint64_t": "<u8"}


def _record_dtype(ctype: str) -> np.dtype:
    """The numpy mirror of a C record, read from the compiled module (so it cannot drift from the header)."""
    names: list[str] = []
    formats: list[object] = []
    offsets: list[int] = []
    for name, field in ffi.typeof(ctype).fields:
        t = field.type
        if t.kind == "array":
            formats.append((_NUMPY_OF_C[t.item.cname], (t.length,)))
        else:
            formats.append(_NUMPY_OF_C[t.cname])
        names.append(name)
        offsets.append(field.offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": ffi.sizeof(ctype)})


# Field meanings are documented on the C structs in native/src/asicrc_native.h.
REPLY_DTYPE = _record_dtype("asicrc_reply")
HOST_FRAME_DTYPE = _record_dtype("asicrc_host_frame")


# ------------------------------------------------------------------------------------------- CRCs


def crc5(data: bytes, nbits: int | None = None) -> int:
    """CRC5 (poly 0x05, init 0x1F, MSB-first) over all bytes, or over the first ``nbits`` bits."""
    buf = bytes(data)
    if nbits is None:
        return int(lib.asicrc_crc5(buf, len(buf)))
    if not 0 <= nbits <= 8 * len(buf):
        raise FrameError(f"nbits must be in 0..{8 * len(buf)}, got {nbits}")
    return int(lib.asicrc_crc5_bits(buf, nbits))


def crc16_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); check("123456789") = 0x29B1."""
    buf = bytes(data)
    return int(lib.asicrc_crc16_false(buf, len(buf)))


# ------------------------------------------------------------------------------------------- helpers


def _byte(v: int, what: str) -> int:
    if not isinstance(v, int) or not 0 <= v <= 0xFF:
        raise FrameError(f"{what} must be an integer 0..255, got {v!r}")
    return v


def _u32(v: int, what: str) -> int:
    if not isinstance(v, int) or not 0 <= v <= 0xFFFFFFFF:
        raise FrameError(f"{what} must be an integer 0..0xFFFFFFFF, got {v!r}")
    return v


def _header(header: bytes) -> bytes:
    h = bytes(header)
    if len(h) != 80:
        raise FrameError(f"header must be exactly 80 bytes, got {len(h)}")
    return h


def _written(out: CData, n: int, what: str) -> bytes:
    # The C encoders return 0 (and write nothing) when the output would not fit or an argument is invalid;
    # the checks above make that unreachable from here, so a 0 is reported rather than returned as b"".
    if n == 0:
        raise FrameError(f"{what}: the C encoder refused the arguments")
    return bytes(ffi.buffer(out, n))


def _payload(payload: bytes) -> bytes:
    p = bytes(payload)
    if len(p) > lib.ASICRC_MAX_CMD_PAYLOAD:
        raise FrameError(f"command payload too long ({len(p)} bytes, max {lib.ASICRC_MAX_CMD_PAYLOAD})")
    return p


# ------------------------------------------------------------------------------------------- BM1366 host->chip

BM1366_SET_ADDRESS = 0x40
BM1366_WRITE = 0x41
BM1366_READ = 0x42
BM1366_INACTIVE = 0x43
BM1366_ALL = 0x10
BM1366_JOB = 0x21


def bm1366_cmd(hdr: int, payload: bytes) -> bytes:
    """``55 AA HDR LEN payload CRC5`` (LEN = len(payload)+3; CRC5 over HDR..payload)."""
    p = _payload(payload)
    size = len(p) + 5
    out = ffi.new("uint8_t[]", size)
    return _written(out, lib.asicrc_bm1366_cmd(_byte(hdr, "hdr"), p, len(p), out, size), "bm1366_cmd")


def bm1366_write_reg(reg: int, value: int, chip_addr: int | None = None) -> bytes:
    """Write a 32-bit register on one chip (``chip_addr``) or on all chips (None)."""
    payload = bytes([0 if chip_addr is None else _byte(chip_addr, "chip_addr"), _byte(reg, "reg")])
    payload += _u32(value, "value").to_bytes(4, "big")
    return bm1366_cmd(BM1366_WRITE | (BM1366_ALL if chip_addr is None else 0), payload)


def bm1366_read_reg(reg: int, chip_addr: int | None = None) -> bytes:
    payload = bytes([0 if chip_addr is None else _byte(chip_addr, "chip_addr"), _byte(reg, "reg")])
    return bm1366_cmd(BM1366_READ | (BM1366_ALL if chip_addr is None else 0), payload)


def bm1366_chain_inactive() -> bytes:
    return bm1366_cmd(BM1366_INACTIVE | BM1366_ALL, b"\x00\x00")


def bm1366_set_address(chip_addr: int) -> bytes:
    return bm1366_cmd(BM1366_SET_ADDRESS, bytes([_byte(chip_addr, "chip_addr"), 0]))


def bm1366_job_payload(header: bytes, job_id: int) -> bytes:
    """The 82-byte ``BM1366_job`` for an 80-byte header (nonce bytes are ignored: the chip searches them)."""
    size = lib.ASICRC_BM1366_JOB_PAYLOAD
    out = ffi.new("uint8_t[]", size)
    n = lib.asicrc_bm1366_job_payload(_header(header), _byte(job_id, "job_id"), out, size)
    return _written(out, n, "bm1366_job_payload")


def bm1366_job(header: bytes, job_id: int) -> bytes:
    """Full 88-byte job frame ``55 AA 21 56 <82-byte job> CRC16(BE)`` for an 80-byte header."""
    return bm1366_job_frame(bm1366_job_payload(header, job_id))


def bm1366_job_frame(payload: bytes) -> bytes:
    """Frame an already-built 82-byte job payload."""
    p = bytes(payload)
    if len(p) != 82:
        raise FrameError(f"BM1366 job payload must be 82 bytes, got {len(p)}")
    size = lib.ASICRC_BM1366_JOB_FRAME
    out = ffi.new("uint8_t[]", size)
    return _written(out, lib.asicrc_bm1366_job(p, out, size), "bm1366_job_frame")


# ------------------------------------------------------------------------------------------- BM1366 chip->host

VERSION_ROLL_MASK = 0x1FFFE000


def bm1366_nonce_reply(
    nonce: int, job_id: int, small_core: int = 0, version_bits: int = 0, midstate: int = 0
) -> bytes:
    """11-byte nonce reply. ``job_id`` must be a multiple of 8 (ESP-Miner ids), ``small_core`` 0..7,
    ``version_bits`` the rolled bits inside 0x1FFFE000 (as XOR against the job version)."""
    if _byte(job_id, "job_id") & 0x07:
        raise FrameError(f"BM1366 job_id must be a multiple of 8, got {job_id}")
    if not isinstance(small_core, int) or not 0 <= small_core <= 7:
        raise FrameError(f"small_core must be 0..7, got {small_core!r}")
    if _u32(version_bits, "version_bits") & ~VERSION_ROLL_MASK:
        raise FrameError(f"version_bits 0x{version_bits:08x} has bits outside 0x{VERSION_ROLL_MASK:08x}")
    size = lib.ASICRC_BM1366_REPLY
    out = ffi.new("uint8_t[]", size)
    n = lib.asicrc_bm1366_nonce_reply(_u32(nonce, "nonce"), _byte(midstate, "midstate"), job_id | small_core,
                                      version_bits >> 13, out, size)
    return _written(out, n, "bm1366_nonce_reply")


def bm1366_register_reply(value: int, chip_addr: int = 0, reg: int = 0) -> bytes:
    size = lib.ASICRC_BM1366_REPLY
    out = ffi.new("uint8_t[]", size)
    n = lib.asicrc_bm1366_register_reply(_u32(value, "value"), _byte(chip_addr, "chip_addr"), _byte(reg, "reg"),
                                         out, size)
    return _written(out, n, "bm1366_register_reply")


# ------------------------------------------------------------------------------------------- BM1387 host->chip

BM1387_SET_ADDRESS = 0x41
BM1387_READ = 0x44
BM1387_INACTIVE = 0x45
BM1387_WRITE = 0x48
BM1387_ALL = 0x10
BM1387_WORK = 0x21


def bm1387_cmd(hdr: int, payload: bytes) -> bytes:
    """``HDR LEN payload CRC5`` (no preamble; LEN counts every byte; CRC5 over all bytes but the last)."""
    p = _payload(payload)
    size = len(p) + 3
    out = ffi.new("uint8_t[]", size)
    return _written(out, lib.asicrc_bm1387_cmd(_byte(hdr, "hdr"), p, len(p), out, size), "bm1387_cmd")


def bm1387_write_reg(reg: int, value: int, chip_addr: int | None = None) -> bytes:
    payload = bytes([0 if chip_addr is None else _byte(chip_addr, "chip_addr"), _byte(reg, "reg")])
    payload += _u32(value, "value").to_bytes(4, "big")
    return bm1387_cmd(BM1387_WRITE | (BM1387_ALL if chip_addr is None else 0), payload)


def bm1387_read_reg(reg: int, chip_addr: int | None = None) -> bytes:
    payload = bytes([0 if chip_addr is None else _byte(chip_addr, "chip_addr"), _byte(reg, "reg")])
    return bm1387_cmd(BM1387_READ | (BM1387_ALL if chip_addr is None else 0), payload)


def bm1387_chain_inactive() -> bytes:
    return bm1387_cmd(BM1387_INACTIVE | BM1387_ALL, b"\x00\x00")


def bm1387_set_address(chip_addr: int) -> bytes:
    return bm1387_cmd(BM1387_SET_ADDRESS, bytes([_byte(chip_addr, "chip_addr"), 0]))


def bm1387_midstate_wire(header: bytes, version: int | None = None) -> bytes:
    """Midstate of the header's first 64 bytes (with ``version`` substituted) in BM1387 wire order."""
    h = _header(header)
    v = int.from_bytes(h[:4], "little") if version is None else _u32(version, "version")
    size = lib.ASICRC_MIDSTATE
    out = ffi.new("uint8_t[]", size)
    return _written(out, lib.asicrc_bm1387_midstate_wire(h, v, out, size), "bm1387_midstate_wire")


def bm1387_work(header: bytes, job_id: int, versions: Sequence[int] | None = None) -> bytes:
    """Work frame with one midstate per version (1-4; default: the header's own version)."""
    h = _header(header)
    vs = [int.from_bytes(h[:4], "little")] if versions is None else [_u32(v, "version") for v in versions]
    if not 1 <= len(vs) <= 4:
        raise FrameError(f"BM1387 work takes 1-4 midstates, got {len(vs)}")
    arr = ffi.new("uint32_t[]", vs)
    size = 22 + 32 * len(vs)
    out = ffi.new("uint8_t[]", size)
    n = lib.asicrc_bm1387_work_from_header(h, _byte(job_id, "job_id"), arr, len(vs), out, size)
    return _written(out, n, "bm1387_work")


def bm1387_work_raw(job_id: int, nbits: int, ntime: int, merkle_tail: bytes, midstates: Sequence[bytes]) -> bytes:
    """Work frame from its fields; ``midstates`` already in wire order (32 bytes each, 1-4 of them)."""
    tail = bytes(merkle_tail)
    if len(tail) != 4:
        raise FrameError(f"merkle_tail must be 4 bytes, got {len(tail)}")
    mids = [bytes(m) for m in midstates]
    if not 1 <= len(mids) <= 4 or any(len(m) != 32 for m in mids):
        raise FrameError("midstates must be 1-4 items of 32 bytes each")
    size = 22 + 32 * len(mids)
    out = ffi.new("uint8_t[]", size)
    n = lib.asicrc_bm1387_work(_byte(job_id, "job_id"), _u32(nbits, "nbits"), _u32(ntime, "ntime"), tail,
                               b"".join(mids), len(mids), out, size)
    return _written(out, n, "bm1387_work_raw")


# ------------------------------------------------------------------------------------------- BM1387 chip->host


def bm1387_nonce_reply(nonce: int, job_id: int, extra: int = 0) -> bytes:
    size = lib.ASICRC_BM1387_REPLY
    out = ffi.new("uint8_t[]", size)
    n = lib.asicrc_bm1387_nonce_reply(_u32(nonce, "nonce"), _byte(extra, "extra"), _byte(job_id, "job_id"), out, size)
    return _written(out, n, "bm1387_nonce_reply")


def bm1387_register_reply(value: int) -> bytes:
    size = lib.ASICRC_BM1387_REPLY
    out = ffi.new("uint8_t[]", size)
    return _written(out, lib.asicrc_bm1387_register_reply(_u32(value, "value"), out, size), "bm1387_register_reply")


# ------------------------------------------------------------------------------------------- decoders


@dataclass(frozen=True, slots=True)
class DecoderStats:
    bytes_in: int  # bytes fed so far
    bytes_dropped: int  # bytes skipped while resynchronizing (garbage, bad frames, flushed leftovers)
    frames: int  # good frames decoded
    bad_crc: int  # framed candidates whose CRC failed
    resyncs: int  # times the decoder lost frame alignment
    pending: int  # bytes held for an incomplete frame


class StreamDecoder:
    """Common streaming decoder over the C state machine; subclasses fix the chip and direction."""

    MODE: ClassVar[int]
    DTYPE: ClassVar[np.dtype]
    DEFAULT_INTERVAL: ClassVar[int] = 256

    def __init__(self, address_interval: int | None = None, emit_bad: bool = False) -> None:
        """``address_interval``: chip address step used to attribute nonces to chips (256/chips; default 256 for
        BM1366, i.e. one chip, and 4 for BM1387, as on an S9 chain)."""
        if address_interval is None:
            address_interval = self.DEFAULT_INTERVAL
        if not isinstance(address_interval, int) or not 1 <= address_interval <= 256:
            raise FrameError(f"address_interval must be 1..256, got {address_interval!r}")
        self._state = ffi.new("asicrc_decoder *")
        lib.asicrc_decoder_init(self._state, self.MODE, address_interval, 1 if emit_bad else 0)
        self._emit_bad = emit_bad
        self._min_frame = int(lib.asicrc_decoder_min_frame(self.MODE))

    def feed(self, chunk: bytes | bytearray | memoryview | npt.NDArray[np.uint8]) -> np.ndarray:
        """Decode the next bytes of the stream; returns the records of every frame completed by them."""
        if isinstance(chunk, np.ndarray):
            data = chunk
        else:
            try:
                data = np.frombuffer(chunk, dtype=np.uint8)
            except (TypeError, ValueError, BufferError):
                raise FrameError(f"chunk must be bytes-like or a 1-D uint8 array, got {type(chunk).__name__}") from None
        if data.dtype != np.uint8 or data.ndim != 1:
            raise FrameError("chunk must be bytes-like or a 1-D uint8 array")
        data = np.ascontiguousarray(data)
        total = int(self._state.pend_len) + data.shape[0]
        # enough room for the worst case so the C side never runs out (bad frames can start at every byte)
        cap = (total if self._emit_bad else total // self._min_frame) + 1
        out = np.empty(cap, dtype=self.DTYPE)
        n = lib.asicrc_decoder_feed(self._state, ffi.from_buffer("uint8_t[]", data), data.shape[0],
                                    ffi.from_buffer(out), cap)
        return out[:n]

    def flush(self) -> int:
        """Give up on an incomplete trailing frame (counted as dropped); returns how many bytes that was."""
        return int(lib.asicrc_decoder_flush(self._state))

    @property
    def stats(self) -> DecoderStats:
        s = self._state
        return DecoderStats(int(s.bytes_in), int(s.bytes_dropped), int(s.frames), int(s.bad_crc), int(s.resyncs),
                            int(s.pend_len))


class BM1366Decoder(StreamDecoder):
    """Chip->host BM1366 replies (``AA 55`` + 9 bytes) -> ``REPLY_DTYPE``. ``address_interval`` = 256/chips."""

    MODE = lib.ASICRC_MODE_BM1366_REPLY
    DTYPE = REPLY_DTYPE


class BM1366HostDecoder(StreamDecoder):
    """Host->chip BM1366 frames (``55 AA`` commands and 88-byte jobs) -> ``HOST_FRAME_DTYPE``."""

    MODE = lib.ASICRC_MODE_BM1366_HOST
    DTYPE = HOST_FRAME_DTYPE


class BM1387Decoder(StreamDecoder):
    """Chip->host BM1387 replies (7 bytes, no preamble) -> ``REPLY_DTYPE``. ``address_interval`` default 4 (S9)."""

    MODE = lib.ASICRC_MODE_BM1387_REPLY
    DTYPE = REPLY_DTYPE
    DEFAULT_INTERVAL = 4


class BM1387HostDecoder(StreamDecoder):
    """Host->chip BM1387 frames (commands, midstate work) -> ``HOST_FRAME_DTYPE``."""

    MODE = lib.ASICRC_MODE_BM1387_HOST
    DTYPE = HOST_FRAME_DTYPE


def host_frame_bytes(record: np.void) -> bytes:
    """The raw bytes of one ``HOST_FRAME_DTYPE`` record."""
    return bytes(record["frame"][: int(record["frame_len"])])


def bm1387_work_midstates(record: np.void) -> list[bytes]:
    """The wire-order midstates of a decoded BM1387 work record."""
    frame = host_frame_bytes(record)
    return [frame[20 + 32 * i: 52 + 32 * i] for i in range(int(record["num_midstates"]))]


_StreamDecoder = StreamDecoder  # older name, kept for code written against it
