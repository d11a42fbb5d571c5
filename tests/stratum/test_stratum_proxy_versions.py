"""The proxy behind a pool that rebuilds rolled versions as public-pool does (``job ^ bits``), on a job version with
a bit inside the mask (0x20002000, soft-fork signalling), with ESP-Miner's own submit form downstream (issue 18).

The BIP310 form the proxy tries first is "low difficulty" at such a pool; the proxy retries once in the difference
form, learns it, and from then on forwards every share (whichever form its miner sent) so that the pool accepts
it. Shares are real sha256d; the pool judges them by its own header rebuild."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from firmware_peer import FirmwarePeer
from xor_pool import MASK, XorPool

from asicrc.drivers.stratum.proxy import UpstreamProxy, version_forms
from asicrc.drivers.stratum.server import ServerConfig
from asicrc.drivers.stratum.work import Notify

UP_DIFF = 1 / 32768
DOWN_DIFF = 1 / 524288
SIGNALLING = 0x20002000


def test_version_forms_differ_only_for_job_bits_inside_the_mask() -> None:
    assert version_forms(0x20006000, 0x20000000, MASK) == (0x6000, 0x6000)
    assert version_forms(0x20006000, SIGNALLING, MASK) == (0x6000, 0x4000)
    assert version_forms(0x20004000, SIGNALLING, MASK) == (0x4000, 0x6000)  # a miner that cleared bit 13


async def wait_verdicts(pool: XorPool, n: int) -> None:
    for _ in range(200):
        if len(pool.verdicts) >= n:
            return
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def behind_xor_pool() -> AsyncIterator[tuple[XorPool, UpstreamProxy, FirmwarePeer, Notify]]:
    """An ESP-Miner peer with its first job from the proxy, whose upstream is an XorPool on a signalling job."""
    pool = XorPool(UP_DIFF, version=SIGNALLING)
    await pool.start()
    proxy = UpstreamProxy(f"stratum+tcp://127.0.0.1:{pool.port}", "acct", config=ServerConfig(difficulty=DOWN_DIFF))
    server = await proxy.start()
    peer = FirmwarePeer(server.port, "bitaxe")
    try:
        await peer.connect(suggest=None)
        yield pool, proxy, peer, await peer.wait_job()
    finally:
        await peer.close()
        await proxy.stop()
        await pool.stop()


async def test_proxy_learns_the_difference_form_of_an_xor_pool() -> None:
    async with behind_xor_pool() as (pool, proxy, peer, job):
        assert job.version == SIGNALLING and peer.version_mask == MASK
        chip_bits = 0x4000  # the chip hashes job | bits = 0x20006000; ESP-Miner submits rolled ^ job = 0x4000
        for k in range(3):
            en2 = bytes([0, k, 0, 0, 0, 0])
            nonce = peer.find(job, en2, chip_bits, difficulty=UP_DIFF)[0]
            reply = await peer.submit(job, en2, nonce, chip_bits)
            assert reply["result"] is True, reply  # answered only once the upstream accepted it
        # first share: BIP310 form refused by the pool, retried in the difference form; then that form first
        assert pool.verdicts == [(0x6000, False), (0x4000, True), (0x4000, True), (0x4000, True)]
        assert proxy.stats["version_form_retries"] == 1 and proxy.sessions[0].version_xor
        assert proxy.stats["upstream_accepted"] == 3 and proxy.stats["upstream_rejected"] == 0
        # a miner sending the BIP310 form of the same kind of work is forwarded in the form this pool rebuilds
        en2 = bytes([0, 9, 0, 0, 0, 0])
        nonce = peer.find(job, en2, chip_bits, difficulty=UP_DIFF)[0]
        assert (await peer.submit(job, en2, nonce, SIGNALLING & MASK | chip_bits))["result"] is True
        assert pool.verdicts[-1] == (0x4000, True) and len(pool.verdicts) == 5
        # negative: a nonce hashed for bit 14 claimed for bit 15 is refused here and never reaches the pool
        en2 = bytes([0, 10, 0, 0, 0, 0])
        nonce = peer.find(job, en2, chip_bits, difficulty=UP_DIFF)[0]
        wrong = await peer.submit(job, en2, nonce, 0x8000)
        assert wrong["error"][0] == 23, wrong
        await asyncio.sleep(0.05)
        assert len(pool.verdicts) == 5 and proxy.stats["version_form_retries"] == 1


async def test_a_share_the_pool_refuses_in_both_forms_is_reported_rejected() -> None:
    async with behind_xor_pool() as (pool, proxy, peer, job):
        pool.difficulty = 1e9  # the pool raised its bar: no share meets it in any form
        en2 = bytes([0, 1, 0, 0, 0, 0])
        nonce = peer.find(job, en2, 0x4000, difficulty=UP_DIFF)[0]
        reply = await peer.submit(job, en2, nonce, 0x4000)
        assert reply["error"][0] == 23 and "Upstream pool rejected" in reply["error"][1], reply
        await wait_verdicts(pool, 2)
        assert [ok for _, ok in pool.verdicts] == [False, False] and not proxy.sessions[0].version_xor
        assert proxy.stats["upstream_rejected"] == 1
