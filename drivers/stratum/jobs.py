"""Job sources for the pool server.

A job source makes :class:`~asicrc.drivers.stratum.work.Notify` jobs; the server decides who receives them and
when. :class:`TemplateJobSource` builds valid jobs locally with no bitcoind: a real coinbase transaction
(BIP34 height push, an extranonce slot of the server's extranonce1+extranonce2 size, one output), merkle
branches over synthetic txids, and version/nbits/ntime. ``make_job`` can be called ahead of time to pre-generate
jobs (the VBM option does this) and the result sent later with ``StratumServer.send_job``.
"""

from __future__ import annotations

import hashlib
import random
import struct
from typing import Protocol

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.native import sha256d

from .work import Notify, merkle_branch_for_first, swap_words

BLOCK_REWARD_SAT = 312_500_000
DEFAULT_NBITS = 0x17034219  # a mainnet-like compact target: a share reaching it would be a block


class JobSource(Protocol):
    """What the server needs from a job source."""

    def make_job(self, clean: bool = False) -> Notify:
        """A new job; `clean` = new prevhash (miners must drop older jobs)."""
        ...


class PayloadJobSource(Protocol):
    """A job source that can put caller bytes into a job's coinbase; it says so with ``supports_payload``."""

    supports_payload: bool

    def make_job(self, clean: bool = False, payload: bytes | None = None) -> Notify: ...


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def bip34_height_push(height: int) -> bytes:
    """Script push of the block height (minimal little-endian, as BIP34 requires)."""
    raw = height.to_bytes(max(1, (height.bit_length() + 8) // 8), "little")
    return bytes([len(raw)]) + raw


def split_coinbase(height: int, extranonce_size: int, tag: bytes, payout_script: bytes,
                   value_sat: int = BLOCK_REWARD_SAT) -> tuple[bytes, bytes]:
    """(coinb1, coinb2) of a one-input one-output coinbase whose scriptSig holds an extranonce slot."""
    height_push = bip34_height_push(height)
    tag_push = bytes([len(tag)]) + tag  # a script push so the scriptSig stays parseable
    script_len = len(height_push) + extranonce_size + len(tag_push)
    if script_len > 100:
        raise ValueError(f"coinbase scriptSig would be {script_len} bytes (max 100): shorten the tag")
    coinb1 = (
        struct.pack("<I", 1)
        + varint(1)
        + b"\x00" * 32
        + b"\xff\xff\xff\xff"
        + varint(script_len)
        + height_push
    )
    coinb2 = (
        tag_push
        + b"\xff\xff\xff\xff"
        + varint(1)
        + struct.pack("<q", value_sat)
        + varint(len(payout_script))
        + payout_script
        + struct.pack("<I", 0)
    )
    return coinb1, coinb2


class TemplateJobSource:
    """Local block templates: valid coinbase with an extranonce slot, merkle branch, version/nbits/ntime.

    extranonce_size is extranonce1 size + extranonce2 size as the server hands them out. `lbry` adds a claimtrie
    root (10-param notify, 112-byte header).
    """

    supports_payload = True

    def __init__(
        self,
        extranonce_size: int = 8,
        *,
        clock: Clock = REAL_TIME,
        seed: int | None = None,
        n_transactions: int = 7,
        version: int = 0x20000000,
        nbits: int = DEFAULT_NBITS,
        tag: bytes = b"/asicrc/",
        lbry: bool = False,
        start_height: int = 840_000,
    ) -> None:
        if not 0 < extranonce_size <= 64:
            raise ValueError(f"extranonce_size must be in 1..64, got {extranonce_size}")
        self.extranonce_size = extranonce_size
        self.clock = clock
        self.rng = random.Random(seed)
        self.n_transactions = n_transactions
        self.version = version
        self.nbits = nbits
        self.tag = tag
        self.lbry = lbry
        self.height = start_height
        # P2WPKH to a fixed key hash: a well-formed output, never spendable by anyone we know
        self.payout_script = b"\x00\x14" + hashlib.new("sha256", b"asicrc payout").digest()[:20]
        self._job_counter = 0
        self._prevhash = b""
        self._claimtrie = b""
        self._txids: list[bytes] = []
        self._new_block()

    def _new_block(self) -> None:
        self.height += 1
        self._prevhash = b"\x00" * 4 + self.rng.randbytes(28)  # header order; leading zeros like a real hash
        self._prevhash = self._prevhash[::-1]  # internal order has the zeros at the end
        self._claimtrie = self.rng.randbytes(32)
        self._txids = [sha256d(self.rng.randbytes(64)) for _ in range(self.n_transactions)]

    def unix_time(self) -> int:
        """Unix seconds on this source's clock (runs faster with a sped-up Clock; fixed on a virtual one)."""
        return int(self.clock.unix())

    def make_job(self, clean: bool = False, payload: bytes | None = None) -> Notify:
        """A new job; `payload` (bytes) is written into this job's coinbase scriptSig after the tag, so an
        experiment can make job content depend on its input (at most ~70 bytes fit)."""
        if clean and self._job_counter:
            self._new_block()
        self._job_counter += 1
        # the job counter goes into the coinbase tag so every job has its own merkle root
        tag = self.tag + struct.pack("<I", self._job_counter) + (payload or b"")
        coinb1, coinb2 = split_coinbase(self.height, self.extranonce_size, tag, self.payout_script)
        return Notify(
            job_id=f"{self._job_counter:x}",
            prevhash=swap_words(self._prevhash),
            coinb1=coinb1,
            coinb2=coinb2,
            merkle_branch=tuple(merkle_branch_for_first(self._txids)),
            version=self.version,
            nbits=self.nbits,
            ntime=self.unix_time(),
            clean=clean,
            claimtrie=swap_words(self._claimtrie) if self.lbry else None,
        )
