"""LBRY variant: the LBRY mainnet genesis block as a vector (rebuilt through a 10-param notify), the PoW computed
independently here with hashlib from its definition, and LB-Box-style mining against an LBRY pool."""

from __future__ import annotations

import hashlib
import struct

import pytest

from asicrc.drivers.events import FanOut
from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.cli_stratum import share_report
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.lbry import lbry_pow, lbry_share_difficulty, lbry_target
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.stratum.work import Notify, Submit, build_header, swap_words

# lbrycrd chainparams: genesis nTime 1446058291, nBits 0x1f00ffff, nNonce 1287, version 1, claimtrie root 0x...01,
# coinbase scriptSig <486604799> <4> "insert timestamp string", 400M LBC to P2PKH 345991db...
GENESIS_HASH = "9c89283ba0f3227f6c03b70216b9f665f0118d5e0fa729cedf4fb34d6a34f463"
GENESIS_MERKLE = "b8211c82c3d15bcd78bba57005b86fed515149a53a425eb592c07af99fe559cc"
DIFF1 = 0xFFFF << 208


def sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def reference_lbry_pow(header: bytes) -> bytes:
    """The LBRY PoW from its definition, with hashlib only."""
    s = hashlib.sha512(sha256d(header)).digest()
    r1 = hashlib.new("ripemd160", s[:32]).digest()
    r2 = hashlib.new("ripemd160", s[32:]).digest()
    return sha256d(r1 + r2)


def genesis_notify() -> tuple[Notify, bytes, bytes]:
    ts = b"insert timestamp string"
    coinb1 = struct.pack("<I", 1) + b"\x01" + bytes(32) + b"\xff" * 4 + b"\x1f" + b"\x04"
    en1, en2 = bytes.fromhex("ffff001d"), bytes.fromhex("0104")  # the two pushes after the opcode
    coinb2 = (bytes([len(ts)]) + ts + b"\xff" * 4 + b"\x01" + struct.pack("<q", 400_000_000 * 10**8)
              + b"\x19\x76\xa9\x14" + bytes.fromhex("345991dbf57bfb014b87006acdfafbfc5fe8292f") + b"\x88\xac"
              + bytes(4))
    assert sha256d(coinb1 + en1 + en2 + coinb2)[::-1].hex() == GENESIS_MERKLE
    claimtrie_internal = b"\x01" + bytes(31)
    params = ["g", "00" * 32, swap_words(claimtrie_internal).hex(), coinb1.hex(), coinb2.hex(), [],
              "00000001", "1f00ffff", f"{1446058291:08x}", True]
    return Notify.from_params(params), en1, en2


def test_genesis_block_vector() -> None:
    notify, en1, en2 = genesis_notify()
    header = build_header(notify, en1, en2, nonce=1287)
    assert len(header) == 112
    expected = (struct.pack("<I", 1) + bytes(32) + bytes.fromhex(GENESIS_MERKLE)[::-1] + b"\x01" + bytes(31)
                + struct.pack("<III", 1446058291, 0x1F00FFFF, 1287))
    assert header == expected
    assert sha256d(header)[::-1].hex() == GENESIS_HASH  # the real chain's block hash
    pow_hash = lbry_pow(header)
    assert pow_hash == reference_lbry_pow(header)
    # the genesis PoW meets its nBits target (0x0000ffff...): a wrong PoW would pass by chance 1 in 65536
    assert int.from_bytes(pow_hash, "little") <= 0xFFFF << 224
    report = share_report(notify, en1, Submit("w", "g", en2, 1446058291, 1287), 0)
    assert report["algorithm"] == "lbry" and report["hash"] == pow_hash[::-1].hex()
    assert report["meets_nbits_target"] is True
    assert report["difficulty"] == lbry_share_difficulty(pow_hash) == 256 * DIFF1 / int.from_bytes(pow_hash, "little")


def test_lbry_target_scaling() -> None:
    assert lbry_target(256.0) == DIFF1
    assert lbry_target(1.0) == DIFF1 * 256


async def test_lbry_pool_accepts_lbbox_style_shares() -> None:
    diff = 2.0**-14  # pool units: ~2^10 LBRY hashes per share
    server = StratumServer(ServerConfig(lbry=True, difficulty=diff, job_interval_s=0), fanout=FanOut())
    events = server.fanout.subscribe(kinds={"share"})
    await server.start()
    try:
        client = StratumClient("127.0.0.1", server.port, "lbbox.1", version_rolling=None)
        await client.connect()
        job = await client.wait_job(timeout_s=5)
        assert job.notify.is_lbry and len(job.notify.to_params()) == 10
        en2 = b"\x00\x00\x00\x05"
        shares = find_shares(job, en2, 2)
        for s in shares:
            assert (await client.submit(s.job_id, en2, s.ntime, s.nonce)).accepted
        # a nonce that misses the target, judged independently here
        header = job.header(en2)
        low = next(n for n in range(1000)
                   if 256 * DIFF1 / int.from_bytes(reference_lbry_pow(header[:108] + struct.pack("<I", n)),
                                                   "little") < diff)
        res = await client.submit(job.job_id, en2, job.notify.ntime, low)
        assert (res.accepted, res.error_code) == (False, 23)
        evs = events.get_nowait_all()
        for ev, s in zip(evs, shares, strict=False):
            pow_hash = reference_lbry_pow(header[:108] + struct.pack("<I", s.nonce))
            expected = 256 * DIFF1 / int.from_bytes(pow_hash, "little")
            assert ev.data["achieved_diff"] == pytest.approx(expected, rel=1e-12) and expected >= diff
        await client.close()
    finally:
        await server.stop()
