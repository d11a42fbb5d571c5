"""Stratum v1 work: the `mining.notify` job, submit parameters, coinbase/merkle helpers and header assembly.

Conventions (docs/protocols.md §4.2-4.3, shared with asicrc.native):
- notify `prevhash` hex is the header-order prevhash with every 4-byte word byte-swapped;
- `version`, `nbits`, `ntime` are big-endian hex of a uint32 and go into the header little-endian;
- merkle branches are raw sha256d outputs in header order;
- submit `ntime`/`nonce` are ``"%08x"`` of the uint32 whose little-endian bytes are in the header, so the nonce
  value is the same uint32 the native batch APIs take;
- a rolled version is ``(job_version & ~mask) | (version_bits & mask)`` (BIP310); when the job version itself has
  bits inside the mask, firmware that submits the difference (ESP-Miner) hashed ``job_version | version_bits``
  instead, see :func:`candidate_versions`.

LBRY jobs (10-param notify) carry a claimtrie root after prevhash, word-swapped like prevhash, and give a
112-byte header; :func:`build_header` returns that header when the notify has a claimtrie.
"""

from __future__ import annotations

import array
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_sha256 = hashlib.sha256


def sha256d(data: bytes) -> bytes:
    """Double SHA-256 for coinbase/merkle folding. The inputs are tiny, so hashlib (no cffi call overhead) is
    about twice as fast as asicrc.native here; the header proof-of-work check itself runs in the C core."""
    return _sha256(_sha256(data).digest()).digest()


class StratumFormatError(ValueError):
    """A Stratum message field is missing, has the wrong type or an invalid value (message names which)."""


def swap_words(data: bytes) -> bytes:
    """Byte-swap every 4-byte word (notify prevhash <-> header-order prevhash; an involution)."""
    if len(data) % 4:
        raise StratumFormatError(f"length {len(data)} is not a multiple of 4")
    words = array.array("I", data)  # "I" is 4 bytes on every platform asicrc runs on
    words.byteswap()
    return words.tobytes()


def _hex(value: Any, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise StratumFormatError(f"{what} must be a hex string, got {type(value).__name__}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise StratumFormatError(f"{what} is not valid hex: {value[:80]!r}") from None
    if size is not None and len(raw) != size:
        raise StratumFormatError(f"{what} must be {size} bytes ({2 * size} hex chars), got {len(raw)} bytes")
    return raw


_U32_HEX = re.compile(r"[0-9a-fA-F]{1,8}")


def _u32_hex(value: Any, what: str) -> int:
    # fullmatch, not int(x, 16) alone, which also takes "-1", "0x1f", "1_0" and spaces
    if not isinstance(value, str) or not _U32_HEX.fullmatch(value):
        raise StratumFormatError(f"{what} must be 1-8 hex digits (a uint32), got {value!r:.40}")
    return int(value, 16)


@dataclass(frozen=True, slots=True)
class Notify:
    """One `mining.notify` job. Byte fields hold the decoded hex exactly as sent (prevhash word-swapped)."""

    job_id: str
    prevhash: bytes  # 32 bytes, notify order (each 4-byte word swapped vs header order)
    coinb1: bytes
    coinb2: bytes
    merkle_branch: tuple[bytes, ...]
    version: int
    nbits: int
    ntime: int
    clean: bool
    claimtrie: bytes | None = None  # LBRY only: 32 bytes, notify order like prevhash
    # header-order prevhash (‖ claimtrie for LBRY), computed once: it is needed for every share
    _header_middle: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        middle = swap_words(self.prevhash)
        if self.claimtrie is not None:
            middle += swap_words(self.claimtrie)
        object.__setattr__(self, "_header_middle", middle)

    @property
    def is_lbry(self) -> bool:
        return self.claimtrie is not None

    @property
    def prevhash_header(self) -> bytes:
        """Prevhash in header (internal) byte order."""
        return self._header_middle[:32]

    @classmethod
    def from_params(cls, params: Any) -> Notify:
        """Parse notify params: 9 for Bitcoin, 10 for LBRY (claimtrie root as the 3rd param)."""
        if not isinstance(params, (list, tuple)):
            raise StratumFormatError(f"mining.notify params must be a list, got {type(params).__name__}")
        if len(params) not in (9, 10):
            raise StratumFormatError(f"mining.notify needs 9 params (10 for LBRY), got {len(params)}")
        p = list(params)
        claimtrie = None
        if len(p) == 10:
            claimtrie = _hex(p.pop(2), "claimtrie", 32)
        job_id, prevhash, coinb1, coinb2, branch, version, nbits, ntime, clean = p
        if not isinstance(job_id, str) or not job_id:
            raise StratumFormatError(f"job_id must be a non-empty string, got {job_id!r:.40}")
        if not isinstance(branch, (list, tuple)):
            raise StratumFormatError(f"merkle_branch must be a list, got {type(branch).__name__}")
        if not isinstance(clean, bool):
            raise StratumFormatError(f"clean_jobs must be a boolean, got {clean!r:.40}")
        return cls(
            job_id=job_id,
            prevhash=_hex(prevhash, "prevhash", 32),
            coinb1=_hex(coinb1, "coinb1"),
            coinb2=_hex(coinb2, "coinb2"),
            merkle_branch=tuple(_hex(b, f"merkle_branch[{i}]", 32) for i, b in enumerate(branch)),
            version=_u32_hex(version, "version"),
            nbits=_u32_hex(nbits, "nbits"),
            ntime=_u32_hex(ntime, "ntime"),
            clean=clean,
            claimtrie=claimtrie,
        )

    def to_params(self) -> list[Any]:
        """The JSON params list (inverse of :meth:`from_params`)."""
        params: list[Any] = [
            self.job_id,
            self.prevhash.hex(),
            self.coinb1.hex(),
            self.coinb2.hex(),
            [b.hex() for b in self.merkle_branch],
            f"{self.version:08x}",
            f"{self.nbits:08x}",
            f"{self.ntime:08x}",
            self.clean,
        ]
        if self.claimtrie is not None:
            params.insert(2, self.claimtrie.hex())
        return params


@dataclass(frozen=True, slots=True)
class Submit:
    """Parsed `mining.submit` params: [worker, job_id, extranonce2, ntime, nonce, (version_bits)]."""

    worker: str
    job_id: str
    extranonce2: bytes
    ntime: int
    nonce: int
    version_bits: int | None = None

    @classmethod
    def from_params(cls, params: Any) -> Submit:
        if not isinstance(params, (list, tuple)):
            raise StratumFormatError(f"mining.submit params must be a list, got {type(params).__name__}")
        if len(params) not in (5, 6):
            raise StratumFormatError(f"mining.submit needs 5 or 6 params, got {len(params)}")
        worker, job_id = params[0], params[1]
        if not isinstance(worker, str):
            raise StratumFormatError(f"worker must be a string, got {type(worker).__name__}")
        if not isinstance(job_id, str):
            raise StratumFormatError(f"job_id must be a string, got {type(job_id).__name__}")
        return cls(
            worker=worker,
            job_id=job_id,
            extranonce2=_hex(params[2], "extranonce2"),
            ntime=_u32_hex(params[3], "ntime"),
            nonce=_u32_hex(params[4], "nonce"),
            version_bits=_u32_hex(params[5], "version_bits") if len(params) == 6 else None,
        )

    def to_params(self) -> list[str]:
        out = [self.worker, self.job_id, self.extranonce2.hex(), f"{self.ntime:08x}", f"{self.nonce:08x}"]
        if self.version_bits is not None:
            out.append(f"{self.version_bits:08x}")
        return out


def coinbase(notify: Notify, extranonce1: bytes, extranonce2: bytes) -> bytes:
    """coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2."""
    return notify.coinb1 + bytes(extranonce1) + bytes(extranonce2) + notify.coinb2


def merkle_root(coinbase_hash: bytes, branch: Sequence[bytes]) -> bytes:
    """Fold the coinbase txid (header order) up the branch: h = sha256d(h ‖ b)."""
    h = coinbase_hash
    for b in branch:
        h = sha256d(h + b)
    return h


def merkle_branch_for_first(txids: Sequence[bytes]) -> list[bytes]:
    """Merkle branch of the coinbase (position 0) given the other txids of the block, in header order.

    Bitcoin duplicates the last hash of an odd level; the coinbase slot is a placeholder since the branch of
    position 0 never depends on it.
    """
    branch: list[bytes] = []
    level = [b"\x00" * 32, *txids]
    while len(level) > 1:
        branch.append(level[1])
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return branch


def rolled_version(job_version: int, version_bits: int | None, mask: int) -> int:
    """BIP310: nVersion = (job_version & ~mask) | (version_bits & mask); no bits -> job version."""
    if version_bits is None:
        return job_version
    return (job_version & ~mask & 0xFFFFFFFF) | (version_bits & mask)


def candidate_versions(job_version: int, version_bits: int | None, mask: int) -> tuple[int, ...]:
    """The header versions a miner may have hashed when it submits `version_bits` (already checked to lie inside
    `mask`), the BIP310 one first.

    BIP310 says the bits *replace* the masked part: ``(job & ~mask) | bits``. ESP-Miner submits ``rolled ^ job``
    where its chip hashed ``rolled = job | bits``, i.e. only the bits it set beyond the job's; ckpool rebuilds that
    as ``job | bits`` (and public-pool as ``job ^ bits``, the same whenever bits and job share no bit). The two
    readings differ only when the job version has bits inside the mask (soft-fork signalling such as 0x20002000,
    or an upstream pool's job behind the proxy), and only then is the second one returned. Each candidate is a
    header the miner must have hashed for the share to meet its target, so trying both accepts what real miners
    send without crediting work that was not done (the duplicate check is on the final version)."""
    if version_bits is None:
        return (job_version,)
    bits = version_bits & mask
    bip310 = (job_version & ~mask & 0xFFFFFFFF) | bits
    difference = job_version | bits
    return (bip310,) if difference == bip310 else (bip310, difference)


def header_prefix(notify: Notify, extranonce1: bytes, extranonce2: bytes) -> bytes:
    """Header bytes 4..68 (prevhash ‖ merkle root; LBRY: ‖ claimtrie), which do not depend on version/time/nonce."""
    root = merkle_root(sha256d(coinbase(notify, extranonce1, extranonce2)), notify.merkle_branch)
    middle = notify._header_middle
    return middle[:32] + root + middle[32:]


def build_header(
    notify: Notify,
    extranonce1: bytes,
    extranonce2: bytes,
    ntime: int | None = None,
    nonce: int = 0,
    version: int | None = None,
) -> bytes:
    """The serialized block header for this job: 80 bytes (Bitcoin) or 112 bytes (LBRY, claimtrie after merkle).

    `version` is the final (already rolled) header version; default the job's. `ntime` defaults to the job's.
    """
    v = notify.version if version is None else version
    t = notify.ntime if ntime is None else ntime
    for name, val in (("version", v), ("ntime", t), ("nonce", nonce)):
        if not 0 <= val <= 0xFFFFFFFF:
            raise StratumFormatError(f"{name} must fit in uint32, got {val}")
    return (
        struct.pack("<I", v)
        + header_prefix(notify, extranonce1, extranonce2)
        + struct.pack("<III", t, notify.nbits, nonce)
    )


def nbits_to_target(nbits: int) -> int:
    """Block target from compact nbits: mantissa · 256^(exponent-3)."""
    exponent, mantissa = nbits >> 24, nbits & 0x007FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))
