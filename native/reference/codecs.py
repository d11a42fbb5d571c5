"""Reference BM1366/BM1387 frame encoders and streaming decoder, byte by byte in plain Python.

Same wire rules and the same resynchronization policy as the C decoder (see docs/native.md), written for
clarity: at each position try to read a frame; if one is there, emit it and jump over it; otherwise drop
one byte. Records are dicts with the field names of asicrc.native.codecs' dtypes.
"""

from __future__ import annotations

from typing import Any

from .crc import crc5, crc5_bits, crc16_false

MODES = ("bm1366_reply", "bm1366_host", "bm1387_reply", "bm1387_host")
NONCE, REGISTER, COMMAND, JOB = 0, 1, 2, 3
NEED, SKIP, BAD = "need", "skip", "bad"


# ---------------------------------------------------------------- encoders


def bm1366_cmd(hdr: int, payload: bytes) -> bytes:
    body = bytes([hdr, len(payload) + 3]) + payload
    return b"\x55\xaa" + body + bytes([crc5(body)])


def bm1366_job_payload(header: bytes, job_id: int) -> bytes:
    def words_reversed(b: bytes) -> bytes:
        return b"".join(b[4 * i:4 * i + 4] for i in reversed(range(8)))

    return (bytes([job_id, 1]) + b"\x00" * 4 + header[72:76] + header[68:72]
            + words_reversed(header[36:68]) + words_reversed(header[4:36]) + header[0:4])


def bm1366_job(header: bytes, job_id: int) -> bytes:
    body = bytes([0x21, 86]) + bm1366_job_payload(header, job_id)
    return b"\x55\xaa" + body + crc16_false(body).to_bytes(2, "big")


def bm1366_nonce_reply(nonce: int, job_id: int, small_core: int = 0, version_bits: int = 0,
                       midstate: int = 0) -> bytes:
    body = nonce.to_bytes(4, "little") + bytes([midstate, job_id | small_core]) + (version_bits >> 13).to_bytes(2, "big")
    last = 0x80
    return b"\xaa\x55" + body + bytes([last | crc5_bits(body + bytes([last]), 67)])


def bm1366_register_reply(value: int, chip_addr: int = 0, reg: int = 0) -> bytes:
    body = value.to_bytes(4, "big") + bytes([chip_addr, reg, 0, 0])
    return b"\xaa\x55" + body + bytes([crc5_bits(body + b"\x00", 67)])


def bm1387_cmd(hdr: int, payload: bytes) -> bytes:
    body = bytes([hdr, len(payload) + 3]) + payload
    return body + bytes([crc5(body)])


def bm1387_work_raw(job_id: int, nbits: int, ntime: int, merkle_tail: bytes, midstates: list[bytes]) -> bytes:
    body = (bytes([0x21, 22 + 32 * len(midstates), job_id, len(midstates)]) + b"\x00" * 4
            + nbits.to_bytes(4, "little") + ntime.to_bytes(4, "little") + merkle_tail + b"".join(midstates))
    return body + crc16_false(body).to_bytes(2, "big")


def bm1387_nonce_reply(nonce: int, job_id: int, extra: int = 0) -> bytes:
    body = nonce.to_bytes(4, "little") + bytes([extra, job_id])
    return body + bytes([0x80 | crc5_bits(body + b"\x80", 51)])


def bm1387_register_reply(value: int) -> bytes:
    body = value.to_bytes(4, "big") + b"\x00\x00"
    return body + bytes([crc5_bits(body + b"\x00", 51)])


# ---------------------------------------------------------------- decoder


class ReferenceDecoder:
    def __init__(self, mode: str, address_interval: int | None = None, emit_bad: bool = False) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        # chip address step: BM1366 boards use 256/chips, an S9 BM1387 chain 4
        self.address_interval = address_interval or (4 if mode.startswith("bm1387") else 256)
        self.emit_bad = emit_bad
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self.synced = False
        self.stats = {"bytes_in": 0, "bytes_dropped": 0, "frames": 0, "bad_crc": 0, "resyncs": 0}

    def _try(self, b: bytes) -> tuple[str, int] | int:
        """Frame length if a good frame starts at b[0], else (NEED|SKIP|BAD, framed length)."""
        m = self.mode
        if m == "bm1366_reply":
            if b[0] != 0xAA:
                return SKIP, 0
            if len(b) < 2:
                return NEED, 0
            if b[1] != 0x55:
                return SKIP, 0
            if len(b) < 11:
                return NEED, 0
            return 11 if crc5(b[2:11]) == 0 else (BAD, 11)
        if m == "bm1366_host":
            if b[0] != 0x55:
                return SKIP, 0
            if len(b) < 2:
                return NEED, 0
            if b[1] != 0xAA:
                return SKIP, 0
            if len(b) < 4:
                return NEED, 0
            hdr, ln = b[2], b[3]
            is_job = hdr == 0x21 and ln == 86
            is_cmd = hdr >> 4 in (4, 5) and hdr & 0x0F <= 3 and ln in (5, 9)
            if not (is_job or is_cmd):
                return SKIP, 0
            total = ln + 2
            if len(b) < total:
                return NEED, 0
            body = b[2:total]
            if is_job:
                ok = crc16_false(body[:-2]) == int.from_bytes(body[-2:], "big")
            else:
                ok = crc5(body[:-1]) == body[-1]
            return total if ok else (BAD, total)
        if m == "bm1387_reply":
            if len(b) < 7:
                return NEED, 0
            last = b[6]
            if last & 0x80:
                if last & 0x60:
                    return SKIP, 0
            elif last > 0x1F or b[4] != 0 or b[5] != 0:
                return SKIP, 0
            if crc5(b[:7]) == 0:
                return 7
            return (BAD, 7) if self.synced else (SKIP, 0)
        # bm1387_host
        hdr = b[0]
        is_work = hdr == 0x21
        if not (is_work or (hdr >> 5 == 2 and 1 <= hdr & 0x0F <= 8)):
            return SKIP, 0
        if len(b) < 2:
            return NEED, 0
        ln = b[1]
        if is_work:
            if ln not in (54, 86, 118, 150):
                return SKIP, 0
            if len(b) < 4:
                return NEED, 0
            if b[3] != (ln - 22) // 32:
                return SKIP, 0
        elif ln not in (5, 9):
            return SKIP, 0
        if len(b) < ln:
            return NEED, 0
        if is_work:
            ok = crc16_false(b[:ln - 2]) == int.from_bytes(b[ln - 2:ln], "big")
        else:
            ok = crc5(b[:ln - 1]) == b[ln - 1]
        return ln if ok else (BAD, ln)

    def _record(self, frame: bytes, offset: int, ok: bool) -> dict[str, Any]:
        rec: dict[str, Any] = {"offset": offset, "crc_ok": int(ok)}
        if self.mode.endswith("_reply"):
            is1366 = self.mode == "bm1366_reply"
            p = frame[2:6] if is1366 else frame[0:4]
            last = frame[-1]
            rec.update(nonce=0, value=0, version_bits=0, job_id=0, small_core=0, midstate=0, chip=0, core=0,
                       chip_addr=0, reg=0, flags=last >> 5)
            if last & 0x80:
                nonce_h = int.from_bytes(p, "big")
                rec.update(kind=NONCE, nonce=int.from_bytes(p, "little"))
                if is1366:
                    rec.update(midstate=frame[6], job_id=frame[7] & 0xF8, small_core=frame[7] & 7,
                               version_bits=int.from_bytes(frame[8:10], "big") << 13,
                               chip=((nonce_h >> 17) & 0xFF) // self.address_interval, core=(nonce_h >> 25) & 0x7F)
                else:
                    # rx0 = header byte 76 carries the chip address, rx3 & 0x7F the core (cgminer-gekko, braiins)
                    rec.update(midstate=frame[4], job_id=frame[5], chip=p[0] // self.address_interval,
                               core=p[3] & 0x7F)
            else:
                rec.update(kind=REGISTER, value=int.from_bytes(p, "big"))
                if is1366:
                    rec.update(chip_addr=frame[6], reg=frame[7])
            return rec
        f = frame[2:] if self.mode == "bm1366_host" else frame
        rec.update(value=0, nbits=0, ntime=0, version=0, starting_nonce=0, frame_len=len(frame), hdr=f[0],
                   length=f[1], chip_addr=0, reg=0, job_id=0, num_midstates=0, frame=bytes(frame))
        if f[0] == 0x21:
            p = f[2:]
            rec.update(kind=JOB, job_id=p[0], num_midstates=p[1], starting_nonce=int.from_bytes(p[2:6], "little"),
                       nbits=int.from_bytes(p[6:10], "little"), ntime=int.from_bytes(p[10:14], "little"))
            if self.mode == "bm1366_host":
                rec["version"] = int.from_bytes(p[78:82], "little")
        else:
            rec.update(kind=COMMAND, chip_addr=f[2], reg=f[3])
            if f[1] == 9:
                rec["value"] = int.from_bytes(f[4:8], "big")
        return rec

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self.stats["bytes_in"] += len(chunk)
        self.buf += chunk
        out: list[dict[str, Any]] = []
        pos = 0
        while pos < len(self.buf):
            r = self._try(bytes(self.buf[pos:pos + 152]))
            if isinstance(r, int):
                out.append(self._record(bytes(self.buf[pos:pos + r]), self.base + pos, True))
                self.stats["frames"] += 1
                self.synced = True
                pos += r
                continue
            what, flen = r
            if what == NEED:
                break
            if what == BAD:
                self.stats["bad_crc"] += 1
                if self.emit_bad:
                    out.append(self._record(bytes(self.buf[pos:pos + flen]), self.base + pos, False))
            if self.synced:
                self.stats["resyncs"] += 1
                self.synced = False
            self.stats["bytes_dropped"] += 1
            pos += 1
        del self.buf[:pos]
        self.base += pos
        return out
