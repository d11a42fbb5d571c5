"""Share verdicts, Stratum error codes and the proof-of-work check of a submitted share.

The PoW check rebuilds the header from the job, the connection's extranonce1 and the submit, and hashes it in
the C core (``asicrc.native.difficulty_batch``) for Bitcoin; LBRY headers use :mod:`.lbry`.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from asicrc.native import difficulty_batch

from .lbry import lbry_pow, lbry_share_difficulty
from .work import Notify, build_header


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    BAD_PARAMS = "bad-params"
    NOT_SUBSCRIBED = "not-subscribed"
    UNAUTHORIZED = "unauthorized"
    JOB_NOT_FOUND = "job-not-found"
    STALE = "stale"
    BAD_EXTRANONCE2 = "bad-extranonce2"
    NTIME_OUT_OF_RANGE = "ntime-out-of-range"
    VERSION_OUT_OF_MASK = "version-out-of-mask"
    DUPLICATE = "duplicate"
    LOW_DIFFICULTY = "low-difficulty"
    UPSTREAM_UNAVAILABLE = "upstream-unavailable"  # proxy: valid, but the pool it belongs to cannot get it
    UPSTREAM_REJECTED = "upstream-rejected"  # proxy: valid here, refused by the pool it was forwarded to


# Stratum pool error codes (slush docs): 20 other, 21 job not found/stale, 22 duplicate, 23 low difficulty,
# 24 unauthorized worker, 25 not subscribed.
ERROR_CODES: dict[Verdict, int | None] = {
    Verdict.ACCEPTED: None,
    Verdict.BAD_PARAMS: 20,
    Verdict.NOT_SUBSCRIBED: 25,
    Verdict.UNAUTHORIZED: 24,
    Verdict.JOB_NOT_FOUND: 21,
    Verdict.STALE: 21,
    Verdict.BAD_EXTRANONCE2: 20,
    Verdict.NTIME_OUT_OF_RANGE: 20,
    Verdict.VERSION_OUT_OF_MASK: 20,
    Verdict.DUPLICATE: 22,
    Verdict.LOW_DIFFICULTY: 23,
    Verdict.UPSTREAM_UNAVAILABLE: 20,
    Verdict.UPSTREAM_REJECTED: 20,
}

ERROR_MESSAGES: dict[Verdict, str] = {
    Verdict.BAD_PARAMS: "Invalid params",
    Verdict.NOT_SUBSCRIBED: "Not subscribed",
    Verdict.UNAUTHORIZED: "Unauthorized worker",
    Verdict.JOB_NOT_FOUND: "Job not found",
    Verdict.STALE: "Stale job",
    Verdict.BAD_EXTRANONCE2: "Incorrect size of extranonce2",
    Verdict.NTIME_OUT_OF_RANGE: "ntime out of range",
    Verdict.VERSION_OUT_OF_MASK: "Version bits outside the negotiated mask",
    Verdict.DUPLICATE: "Duplicate share",
    Verdict.LOW_DIFFICULTY: "Low difficulty share",
    Verdict.UPSTREAM_UNAVAILABLE: "Upstream pool unavailable: share not forwarded",
    Verdict.UPSTREAM_REJECTED: "Upstream pool rejected the share",
}


def share_pow(notify: Notify, extranonce1: bytes, extranonce2: bytes, ntime: int, nonce: int,
              version: int) -> tuple[float, bytes, bytes]:
    """(share difficulty, hash in internal order, header) of one submit; LBRY difficulty is in pool units."""
    if notify.claimtrie is not None:
        header = build_header(notify, extranonce1, extranonce2, ntime=ntime, nonce=nonce, version=version)
        pow_hash = lbry_pow(header)
        return lbry_share_difficulty(pow_hash), pow_hash, header
    base = build_header(notify, extranonce1, extranonce2, ntime=ntime, nonce=0, version=version)
    diffs, hashes = difficulty_batch(base, np.array([nonce], dtype=np.uint32), return_hashes=True)
    header = base[:76] + nonce.to_bytes(4, "little")
    return float(diffs[0]), hashes[0].tobytes(), header
