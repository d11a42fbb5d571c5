"""The local template job source makes jobs whose coinbase parses as a Bitcoin transaction with the extranonce
slot inside its scriptSig, a BIP34 height, and a merkle branch that folds to the block's merkle root."""

from __future__ import annotations

import hashlib
import struct

import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.stratum.jobs import TemplateJobSource, bip34_height_push, split_coinbase, varint
from asicrc.drivers.stratum.work import build_header, coinbase


def read_varint(b: bytes, i: int) -> tuple[int, int]:
    first = b[i]
    if first < 0xFD:
        return first, i + 1
    size = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(b[i + 1 : i + 1 + size], "little"), i + 1 + size


def parse_coinbase(tx: bytes) -> dict[str, object]:
    """A minimal independent transaction parser (legacy serialization)."""
    version = struct.unpack_from("<I", tx, 0)[0]
    n_in, i = read_varint(tx, 4)
    prevout, i = tx[i : i + 36], i + 36
    script_len, i = read_varint(tx, i)
    script, i = tx[i : i + script_len], i + script_len
    sequence, i = tx[i : i + 4], i + 4
    n_out, i = read_varint(tx, i)
    outs = []
    for _ in range(n_out):
        value = struct.unpack_from("<q", tx, i)[0]
        pk_len, i = read_varint(tx, i + 8)
        outs.append((value, tx[i : i + pk_len]))
        i += pk_len
    locktime, i = tx[i : i + 4], i + 4
    assert i == len(tx), "trailing bytes"
    return {"version": version, "n_in": n_in, "prevout": prevout, "script": script, "sequence": sequence,
            "outs": outs, "locktime": locktime}


def test_coinbase_is_a_valid_transaction_with_the_extranonce_slot() -> None:
    src = TemplateJobSource(8, seed=1, start_height=840_000)
    job = src.make_job(clean=True)
    en1, en2 = b"\xaa" * 4, b"\xbb" * 4
    tx = parse_coinbase(coinbase(job, en1, en2))
    assert tx["n_in"] == 1 and tx["prevout"] == b"\0" * 32 + b"\xff" * 4 and tx["locktime"] == b"\0" * 4
    script = tx["script"]
    assert isinstance(script, bytes) and 2 <= len(script) <= 100
    assert script.startswith(bip34_height_push(840_001)) and en1 + en2 in script and b"/asicrc/" in script
    assert tx["outs"] == [(312_500_000, src.payout_script)]
    # merkle root from the branch equals the full tree over coinbase + synthetic txids
    txids = src._txids
    level = [hashlib.sha256(hashlib.sha256(coinbase(job, en1, en2)).digest()).digest(), *txids]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(hashlib.sha256(level[k] + level[k + 1]).digest()).digest()
                 for k in range(0, len(level), 2)]
    assert build_header(job, en1, en2)[36:68] == level[0]


def test_jobs_change_and_clean_changes_prevhash() -> None:
    clock = Clock(speed=100.0)
    src = TemplateJobSource(8, seed=2, clock=clock)
    a, b, c = src.make_job(True), src.make_job(False), src.make_job(True)
    assert len({a.job_id, b.job_id, c.job_id}) == 3
    assert a.prevhash == b.prevhash != c.prevhash and a.coinb2 != b.coinb2
    assert a.prevhash_header.endswith(b"\0\0\0\0")  # header order: a real hash's leading zeros come last
    assert abs(src.unix_time() - a.ntime) < 1000
    lb = TemplateJobSource(8, lbry=True).make_job(True)
    assert lb.is_lbry and len(build_header(lb, b"\0" * 4, b"\0" * 4)) == 112


def test_helpers_and_limits() -> None:
    assert varint(0xFC) == b"\xfc" and varint(0xFD) == b"\xfd\xfd\x00" and varint(70000)[0] == 0xFE
    assert bip34_height_push(1) == b"\x01\x01" and bip34_height_push(128) == b"\x02\x80\x00"
    with pytest.raises(ValueError, match="max 100"):
        split_coinbase(1, 90, b"x" * 20, b"")
    with pytest.raises(ValueError, match="extranonce_size"):
        TemplateJobSource(0)
