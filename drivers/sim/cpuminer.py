"""A small real miner: sha256d nonce search in the C core (``asicrc.native.search_nonces``) over Stratum.

The reference miner of tests and benchmarks: a miner loop on
:class:`~asicrc.drivers.stratum.client.StratumClient`'s job hook. It lives with the simulator because it plays
the miner's side of the wire, as the simulated devices do; the stratum package holds the pool's side.
Only sensible at low share difficulty (a CPU does a few MH/s).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from asicrc.drivers.stratum.client import Job, StratumClient, SubmitResult
from asicrc.drivers.stratum.lbry import lbry_pow, lbry_share_difficulty
from asicrc.native import difficulty_to_target, search_nonces


@dataclass(frozen=True, slots=True)
class Share:
    job_id: str
    extranonce2: bytes
    ntime: int
    nonce: int
    version_bits: int | None


def find_shares(job: Job, extranonce2: bytes, count: int, *, difficulty: float | None = None,
                version_bits: int | None = None, start_nonce: int = 0, max_hashes: int = 1 << 28) -> list[Share]:
    """Search nonces from `start_nonce` until `count` shares meet `difficulty` (default: the job's)."""
    diff = job.difficulty if difficulty is None else difficulty
    header = job.header(extranonce2, nonce=0, version_bits=version_bits)
    shares: list[Share] = []
    if job.notify.is_lbry:
        # LBRY PoW is not in the C core: a slow Python loop, fine at tiny test difficulties
        for nonce in range(start_nonce, start_nonce + max_hashes):
            h = header[:108] + (nonce & 0xFFFFFFFF).to_bytes(4, "little")
            if lbry_share_difficulty(lbry_pow(h)) >= diff:
                shares.append(Share(job.job_id, extranonce2, job.notify.ntime, nonce & 0xFFFFFFFF, version_bits))
                if len(shares) >= count:
                    break
        return shares
    target = difficulty_to_target(diff)
    nonce, done = start_nonce, 0
    while len(shares) < count and done < max_hashes:
        found, hashed = search_nonces(header, nonce, min(1 << 20, max_hashes - done), target, count - len(shares))
        shares.extend(Share(job.job_id, extranonce2, job.notify.ntime, int(n), version_bits) for n in found)
        done += hashed
        nonce = (nonce + hashed) & 0xFFFFFFFF
        if not hashed:
            break
    return shares


class CpuMiner:
    """Mines every job the client receives, walking extranonce2 (and version bits if negotiated)."""

    def __init__(self, client: StratumClient, shares_per_job: int | None = None) -> None:
        self.client = client
        self.shares_per_job = shares_per_job
        self.results: list[SubmitResult] = []
        self._task: asyncio.Task[None] | None = None
        self._en2 = 0
        client.add_job_listener(self._on_job)

    def start(self) -> None:
        """Mine the client's current job now (later jobs start automatically)."""
        if self.client.job is not None:
            self._on_job(self.client.job)

    def _on_job(self, job: Job) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.create_task(self._mine(job))

    async def _mine(self, job: Job) -> None:
        found = 0
        while self.shares_per_job is None or found < self.shares_per_job:
            self._en2 += 1
            en2 = self._en2.to_bytes(job.extranonce2_size, "little")
            vbits = (self._en2 << 13) & job.version_mask if job.version_mask else None
            shares = await asyncio.to_thread(find_shares, job, en2, 1, version_bits=vbits, max_hashes=1 << 22)
            for s in shares:
                self.results.append(await self.client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce,
                                                             s.version_bits))
                found += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._task
