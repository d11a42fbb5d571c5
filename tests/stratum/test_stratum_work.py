"""Header assembly against the slush-docs testnet example (protocols.md §4.4) and helper round-trips."""

from __future__ import annotations

import hashlib

import pytest

from asicrc.drivers.stratum.work import (
    Notify,
    StratumFormatError,
    Submit,
    build_header,
    coinbase,
    merkle_branch_for_first,
    merkle_root,
    rolled_version,
    swap_words,
)
from asicrc.native import difficulty_batch, hash_difficulty, sha256d

SLUSH_NOTIFY = [
    "bf",
    "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000",
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008",
    "072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",
    [],
    "00000002",
    "1c2ac4af",
    "504e86b9",
    False,
]
SLUSH_EN1 = bytes.fromhex("08000002")
SLUSH_SUBMIT = ["slush.miner1", "bf", "00000001", "504e86ed", "b2957c02"]
SLUSH_HEADER = (
    "02000000f8b6164d19e2f65a2aae448f787fe66d61e57a48c0c6771b1e920b440000000032414daa9ddac879fd2c62839b9ba710"
    "a3546363a5f5e22915d90dc3b1699deced864e50afc42a1c027c95b2"
)
SLUSH_HASH = "000000002076870fe65a2b6eeed84fa892c0db924f1482243a6247d931dcab32"


def _sha256d(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def test_slush_example_header_and_hash() -> None:
    n = Notify.from_params(SLUSH_NOTIFY)
    s = Submit.from_params(SLUSH_SUBMIT)
    cb = coinbase(n, SLUSH_EN1, s.extranonce2)
    assert _sha256d(cb).hex() == "32414daa9ddac879fd2c62839b9ba710a3546363a5f5e22915d90dc3b1699dec"
    header = build_header(n, SLUSH_EN1, s.extranonce2, ntime=s.ntime, nonce=s.nonce)
    assert header.hex() == SLUSH_HEADER
    assert _sha256d(header)[::-1].hex() == SLUSH_HASH
    # the C core agrees when the nonce is passed as the submit's uint32
    diff = difficulty_batch(header[:76] + b"\0" * 4, [s.nonce])
    assert diff[0] == pytest.approx(hash_difficulty(_sha256d(header)))
    assert 7.8 < diff[0] < 8.0


def test_notify_roundtrip_and_lbry_params() -> None:
    n = Notify.from_params(SLUSH_NOTIFY)
    assert n.to_params() == SLUSH_NOTIFY
    lbry = [*SLUSH_NOTIFY[:2], "11" * 32, *SLUSH_NOTIFY[2:]]
    ln = Notify.from_params(lbry)
    assert ln.is_lbry and ln.to_params() == lbry
    h = build_header(ln, SLUSH_EN1, b"\0" * 4)
    assert len(h) == 112 and h[68:100] == b"\x11" * 32


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ("x", "must be a list"),
        ([1] * 8, "9 params"),
        ([*SLUSH_NOTIFY[:1], "zz" * 32, *SLUSH_NOTIFY[2:]], "prevhash is not valid hex"),
        ([*SLUSH_NOTIFY[:1], "00" * 31, *SLUSH_NOTIFY[2:]], "prevhash must be 32 bytes"),
        ([*SLUSH_NOTIFY[:5], "123456789", *SLUSH_NOTIFY[6:]], "version"),
        ([*SLUSH_NOTIFY[:8], "yes"], "clean_jobs"),
        ([*SLUSH_NOTIFY[:4], ["00"], *SLUSH_NOTIFY[5:]], "merkle_branch[0]"),
    ],
)
def test_notify_errors_name_the_field(params: object, needle: str) -> None:
    with pytest.raises(StratumFormatError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        Notify.from_params(params)


def test_submit_parse_errors() -> None:
    with pytest.raises(StratumFormatError, match="5 or 6"):
        Submit.from_params(["a", "b"])
    for bad_nonce in ("xyz", "-1", "0x1f", "1_0", " 12", "123456789"):
        with pytest.raises(StratumFormatError, match="nonce"):
            Submit.from_params(["a", "b", "00", "504e86ed", bad_nonce])
    s = Submit.from_params(["w", "j", "0001", "504e86ed", "b2957c02", "00006000"])
    assert s.version_bits == 0x6000 and s.to_params() == ["w", "j", "0001", "504e86ed", "b2957c02", "00006000"]


def test_merkle_branch_matches_full_tree() -> None:
    txids = [_sha256d(bytes([i])) for i in range(1, 7)]  # 7 txs with the coinbase: odd levels exercised
    cb = _sha256d(b"coinbase")
    level = [cb, *txids]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [_sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    assert merkle_root(cb, merkle_branch_for_first(txids)) == level[0]
    assert merkle_branch_for_first([]) == []
    assert sha256d(b"x") == _sha256d(b"x")


def test_version_rolling_and_swap() -> None:
    assert rolled_version(0x20000004, 0x1FFFE000, 0x1FFFE000) == 0x3FFFE004
    assert rolled_version(0x20000004, None, 0x1FFFE000) == 0x20000004
    assert swap_words(swap_words(bytes(range(32)))) == bytes(range(32))
    with pytest.raises(StratumFormatError):
        swap_words(b"abc")
