"""Every verified vector of shared/docs/protocols.md §1-2, byte for byte, plus round trips through decoders."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from asicrc.native import codecs as c
from asicrc.native import difficulty_batch
from asicrc.native import reference as ref
from asicrc.native import registers as r
from asicrc.native.reference import codecs as refc

H = bytes.fromhex


def test_crc_check_values() -> None:
    assert c.crc5(b"123456789") == 0x0F == ref.crc5(b"123456789")
    assert c.crc16_false(b"123456789") == 0x29B1 == ref.crc16_false(b"123456789")


BM1366_INIT_LITERALS = [
    (c.bm1366_read_reg(0), "55 AA 52 05 00 00 0A"),
    (c.bm1366_chain_inactive(), "55 AA 53 05 00 00 03"),
    (c.bm1366_set_address(0), "55 AA 40 05 00 00 1C"),
    (r.bm1366_version_mask_frame(0x1FFFE000), "55 AA 51 09 00 A4 90 00 FF FF 1C"),
    (c.bm1366_write_reg(0xA8, 0x00070000), "55 AA 51 09 00 A8 00 07 00 00 03"),
    (c.bm1366_write_reg(0x18, 0xFF0FC100), "55 AA 51 09 00 18 FF 0F C1 00 00"),
    (c.bm1366_write_reg(0x3C, 0x80008540), "55 AA 51 09 00 3C 80 00 85 40 0C"),
    (c.bm1366_write_reg(0x3C, 0x80008020), "55 AA 51 09 00 3C 80 00 80 20 19"),
    (c.bm1366_write_reg(0x2C, 0x007C0003, chip_addr=0), "55 AA 41 09 00 2C 00 7C 00 03 03"),
    (r.bm1366_baud_frame(1_000_000), "55 AA 51 09 00 28 11 30 02 00 03"),
    (r.bm1366_ticket_mask_frame(256), "55 AA 51 09 00 14 00 00 00 FF 08"),
    (r.bm1366_ticket_mask_frame(512), "55 AA 51 09 00 14 00 00 80 FF 04"),
    (r.bm1366_ticket_mask_frame(1000), "55 AA 51 09 00 14 00 00 80 FF 04"),
    (r.bm1366_ticket_mask_frame(1), "55 AA 51 09 00 14 00 00 00 00 1C"),
    (r.bm1366_pll_frame(485), "55 AA 51 09 00 08 50 C2 02 40 1C"),
    (r.bm1366_pll_frame(500), "55 AA 51 09 00 08 40 A0 02 30 1D"),
    (r.bm1366_pll_frame(525), "55 AA 51 09 00 08 40 A8 02 30 03"),
    (c.bm1366_write_reg(0x10, r.bm1366_hash_counting(1, 485)), "55 AA 51 09 00 10 00 0D 32 24 10"),
    (c.bm1366_read_reg(0x8C), "55 AA 52 05 00 8C 1D"),
    (c.bm1366_register_reply(0x13660000, 0, 0), "AA 55 13 66 00 00 00 00 00 00 05"),
]

BM1387_LITERALS = [
    (c.bm1387_chain_inactive(), "55 05 00 00 10"),
    (c.bm1387_set_address(4), "41 05 04 00 0A"),
    (c.bm1387_read_reg(0), "54 05 00 00 19"),
    (r.bm1387_pll_frame(650, chip_addr=0x24), "48 09 24 0C 00 68 02 21 1F"),
    (r.bm1387_ticket_mask_frame(64), "58 09 00 18 00 00 00 FC 06"),
    (c.bm1387_register_reply(0x13879000), "13 87 90 00 00 00 07"),
]


@pytest.mark.parametrize(("frame", "expected"), BM1366_INIT_LITERALS + BM1387_LITERALS)
def test_literal_frames(frame: bytes, expected: str) -> None:
    assert frame == H(expected)


def test_reference_encoders_match_literals() -> None:
    assert refc.bm1366_cmd(0x51, H("00A49000FFFF")) == H("55 AA 51 09 00 A4 90 00 FF FF 1C")
    assert refc.bm1387_cmd(0x48, H("240C00680221")) == H("48 09 24 0C 00 68 02 21 1F")
    assert refc.bm1366_register_reply(0x13660000) == H("AA 55 13 66 00 00 00 00 00 00 05")
    assert refc.bm1387_register_reply(0x13879000) == H("13 87 90 00 00 00 07")


def test_register_values() -> None:
    assert r.bm1366_pll(485) == r.Pll(194, 2, 5, 1, 485.0)
    assert r.bm1387_pll_value(r.bm1387_pll(550)) == 0x580221
    assert r.bm1387_pll_value(r.bm1387_pll(650)) == 0x680221
    assert r.bm1366_hash_counting(1, 485) == 864804
    assert r.bm1387_baud_divider(115741) == 26
    assert r.bm1387_baud_value(115741) == 0x00201A00  # not_set_baud (bit 30) clear, as every known host writes it
    # cgminer-gekko's baud write with its default bauddiv 1 ("1.5Mbps"): 58 09 00 1C 00 20 01 00 (+ CRC5)
    assert r.bm1387_baud_frame(1_500_000)[:8] == bytes.fromhex("5809001C00200100")
    frame = r.bm1387_baud_frame(1_500_000)
    assert ref.crc5(frame[:-1]) == frame[-1]
    assert r.ticket_mask(64) == 0x000000FC


def test_decode_chip_id_replies() -> None:
    rec = c.BM1366Decoder().feed(H("AA 55 13 66 00 00 00 00 00 00 05"))
    assert len(rec) == 1 and rec[0]["kind"] == c.Kind.REGISTER and rec[0]["value"] == 0x13660000
    assert rec[0]["crc_ok"] == 1 and rec[0]["chip_addr"] == 0 and rec[0]["reg"] == 0
    rec = c.BM1387Decoder().feed(H("13 87 90 00 00 00 07"))
    assert len(rec) == 1 and rec[0]["kind"] == c.Kind.REGISTER and rec[0]["value"] == 0x13879000


# protocols.md §4.4: the slush testnet block header (share difficulty 7.89 at nonce b2957c02)
SLUSH_HEADER = H(
    "02000000f8b6164d19e2f65a2aae448f787fe66d61e57a48c0c6771b1e920b440000000032414daa9ddac879fd2c62839b9ba710"
    "a3546363a5f5e22915d90dc3b1699deced864e50afc42a1c027c95b2"
)


def test_bm1366_job_layout_and_decode() -> None:
    frame = c.bm1366_job(SLUSH_HEADER, 8)
    assert len(frame) == 88 and frame[:4] == H("55 AA 21 56")
    assert frame == refc.bm1366_job(SLUSH_HEADER, 8)
    payload = frame[4:86]
    assert payload[6:10] == SLUSH_HEADER[72:76] and payload[10:14] == SLUSH_HEADER[68:72]
    assert payload[14:18] == SLUSH_HEADER[64:68] and payload[42:46] == SLUSH_HEADER[36:40]
    assert payload[78:82] == SLUSH_HEADER[0:4]
    rec = c.BM1366HostDecoder().feed(frame)
    assert len(rec) == 1 and rec[0]["kind"] == c.Kind.JOB and rec[0]["job_id"] == 8
    assert rec[0]["nbits"] == 0x1C2AC4AF and rec[0]["ntime"] == 0x504E86ED and rec[0]["version"] == 2
    assert c.host_frame_bytes(rec[0]) == frame


def test_bm1366_nonce_reply_feeds_share_check() -> None:
    nonce = int.from_bytes(SLUSH_HEADER[76:80], "little")
    reply = c.bm1366_nonce_reply(nonce, job_id=8, small_core=5, version_bits=0x00006000, midstate=1)
    assert reply == refc.bm1366_nonce_reply(nonce, 8, 5, 0x6000, 1)
    assert reply[2:6] == SLUSH_HEADER[76:80] and reply[10] & 0x80
    rec = c.BM1366Decoder().feed(reply)[0]
    assert (rec["kind"], rec["nonce"], rec["job_id"], rec["small_core"], rec["version_bits"], rec["midstate"]) == (
        c.Kind.NONCE, nonce, 8, 5, 0x6000, 1)
    nonce_h = int.from_bytes(SLUSH_HEADER[76:80], "big")
    assert rec["core"] == (nonce_h >> 25) & 0x7F
    diff = difficulty_batch(SLUSH_HEADER, np.array([rec["nonce"]], dtype=np.uint32))
    assert abs(float(np.asarray(diff)[0]) - 7.89) < 0.01


def test_bm1387_work_midstates_match_reference() -> None:
    versions = [0x20000000, 0x20002000, 0x20004000, 0x20006000]
    frame = c.bm1387_work(SLUSH_HEADER, 0x74, versions)
    assert frame[:4] == H("21 96 74 04") and len(frame) == 150
    assert frame[8:12] == SLUSH_HEADER[72:76] and frame[12:16] == SLUSH_HEADER[68:72]
    assert frame[16:20] == SLUSH_HEADER[64:68]
    mids = []
    for v in versions:
        state = ref.midstate(v.to_bytes(4, "little") + SLUSH_HEADER[4:64])
        mids.append(b"".join(w.to_bytes(4, "big") for w in state)[::-1])
    assert frame == refc.bm1387_work_raw(0x74, 0x1C2AC4AF, 0x504E86ED, SLUSH_HEADER[64:68], mids)
    assert int.from_bytes(frame[-2:], "big") == ref.crc16_false(frame[:-2])
    rec = c.BM1387HostDecoder().feed(frame)
    assert len(rec) == 1 and rec[0]["num_midstates"] == 4 and c.bm1387_work_midstates(rec[0]) == mids


def test_bm1387_nonce_reply_fields() -> None:
    reply = c.bm1387_nonce_reply(0xB2957C02, job_id=0x75, extra=3)
    assert reply == refc.bm1387_nonce_reply(0xB2957C02, 0x75, 3)
    rec = c.BM1387Decoder().feed(reply)[0]
    assert (rec["kind"], rec["nonce"], rec["job_id"], rec["midstate"]) == (c.Kind.NONCE, 0xB2957C02, 0x75, 3)
    # braiins' CoreAddress over the header-order nonce: chip (nonce >> 2) & 0x3F, core (nonce >> 24) & 0x7F
    nonce = int(rec["nonce"])
    assert rec["chip"] == (nonce >> 2) & 0x3F and rec["core"] == (nonce >> 24) & 0x7F
    # cgminer-gekko: the chip from the first reply byte, rx[0] / (0x100 / chips)
    assert c.BM1387Decoder(address_interval=0x100 // 8).feed(reply)[0]["chip"] == reply[0] // (0x100 // 8)


def test_init_sequence_order() -> None:
    steps = r.bm1366_init_sequence(chip_count=2, freq_mhz=485, difficulty=256)
    names = [s.name for s in steps]
    assert names[:4] == ["version_mask"] * 3 + ["read_chip_id"]
    assert names.index("chain_inactive") < names.index("set_address_0") < names.index("set_address_1")
    assert steps[names.index("set_address_1")].frame == c.bm1366_set_address(128)
    assert steps[-1].frame == H("55 AA 51 09 00 28 11 30 02 00 03")
    dec = c.BM1366HostDecoder()
    recs = dec.feed(b"".join(s.frame for s in steps))
    assert len(recs) == len(steps) and dec.stats.bytes_dropped == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: c.bm1366_nonce_reply(1, job_id=3), "multiple of 8"),
        (lambda: c.bm1366_nonce_reply(1, job_id=8, version_bits=1), "outside"),
        (lambda: c.bm1366_job(b"short", 0), "80 bytes"),
        (lambda: c.bm1387_work(SLUSH_HEADER, 1, [1, 2, 3, 4, 5]), "1-4"),
        (lambda: c.bm1366_write_reg(0x300, 0), "reg"),
        (lambda: r.bm1366_pll(5000), "frequency"),
        (lambda: r.ticket_mask(0.5), ">= 1"),
        (lambda: r.bm1366_baud_frame(115200), "1000000"),
        (lambda: r.bm1387_baud_frame(9600), "cannot run"),
    ],
)
def test_bad_arguments_name_the_problem(call: Callable[[], object], message: str) -> None:
    with pytest.raises(c.FrameError, match=message):
        call()


def test_bm1387_work_vector_from_skot_miner_script() -> None:
    """protocols.md §2.4: skot/bm1387_scripts miner.py job 0x74 (bytes from the script), CRC16 = C6 BB."""
    body = H(
        "21 36 74 01 00 00 00 00 F9 1E 0E 17 80 20 CC 60 61 81 55 05 00 36 06 53 32 62 A2 41 21 A0 3C B2"
        " 43 E3 C0 53 49 FC 20 7A 9D 5D E0 84 E6 62 14 75 99 CB 96 9C"
    )
    frame = c.bm1387_work_raw(0x74, 0x170E1EF9, 0x60CC2080, body[16:20], [body[20:52]])
    assert frame == body + H("C6 BB")
    rec = c.BM1387HostDecoder().feed(frame)[0]
    assert (rec["job_id"], rec["num_midstates"], rec["nbits"], rec["ntime"]) == (0x74, 1, 0x170E1EF9, 0x60CC2080)


def test_chip_attribution_follows_address_interval() -> None:
    # BM1366, 4 chips (interval 64): chip address sits in nonce bits 17..24 (big-endian view of the reply bytes)
    nonce_h = (0x80 << 17) | (5 << 25)  # chip address 0x80 -> chip 2, core 5
    nonce = int.from_bytes(nonce_h.to_bytes(4, "big"), "little")
    rec = c.BM1366Decoder(address_interval=64).feed(c.bm1366_nonce_reply(nonce, 0))[0]
    assert (rec["chip"], rec["core"]) == (2, 5)
    # BM1387: chip address in the first reply byte (header byte 76, the nonce's low byte), core in the last
    # (rx3 & 0x7F); default interval 4 (S9) = braiins' (nonce >> 2) & 0x3F
    nonce = 0x12000000 | 0x28  # address 0x28 -> chip 10 at interval 4, chip 5 at interval 8; core 0x12
    reply = c.bm1387_nonce_reply(nonce, 1)
    assert reply[0] == 0x28 and reply[3] == 0x12
    assert c.BM1387Decoder().feed(reply)[0]["chip"] == 10
    assert c.BM1387Decoder(address_interval=8).feed(reply)[0]["chip"] == 5
    assert c.BM1387Decoder().feed(reply)[0]["core"] == 0x12
