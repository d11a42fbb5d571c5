"""The VBM option on a real Stratum server over 127.0.0.1, with a real Stratum client submitting real shares."""

from __future__ import annotations

import asyncio

import pytest

from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.cpuminer import find_shares
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.stratum.vbm import IdleTimeMeter, VbmConfig, VirtualBlockManager

DIFF = 2**-16  # a share every ~65k hashes: instant on a CPU


def test_idle_meter_measures_share_to_next_job() -> None:
    m = IdleTimeMeter()
    m.job(1, 0)  # a job with no share before it: no gap
    m.share(1, 1_000_000_000)
    m.share(1, 1_500_000_000)  # still waiting: the gap counts from the first share
    m.job(1, 3_000_000_000)
    m.share(2, 0)
    s = m.stats()
    assert (s.gaps, s.mean_s, s.max_s, s.pending) == (1, 2.0, 2.0, 1)
    m.reset()
    assert m.stats().gaps == 0


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="prefetch"):
        VbmConfig(prefetch=0)
    with pytest.raises(ValueError, match="upstream_sessions"):
        VbmConfig(upstream_sessions=0)


async def submit_one(client: StratumClient, k: int) -> None:
    job = client.job
    assert job is not None
    en2 = k.to_bytes(client.extranonce2_size, "little")  # fresh work per share: never a duplicate
    share = find_shares(job, en2, 1)[0]
    res = await client.submit(share.job_id, share.extranonce2, share.ntime, share.nonce)
    assert res.accepted, res


async def test_vbm_sends_a_prefetched_job_right_after_each_share() -> None:
    server = StratumServer(ServerConfig(difficulty=DIFF, min_difficulty=1e-12, job_interval_s=0))
    await server.start()
    vbm = VirtualBlockManager(server, VbmConfig(enabled=False, prefetch=4, upstream_sessions=2))
    await vbm.start()
    client = StratumClient("127.0.0.1", server.port, "rig.vbm", version_rolling=None)
    try:
        await client.connect()
        first = await client.wait_job(timeout_s=5)
        # OFF: an accepted share is followed by no job (the miner keeps hashing the one it has)
        await submit_one(client, 1)
        await asyncio.sleep(0.2)
        assert client.job is first and vbm.meter.stats().pending == 1
        # ON: the next job arrives right after the share, from the prefetched queue, sources alternating
        vbm.enable()
        seen = []
        for k in range(4):
            before = client.job
            await submit_one(client, 10 + k)
            job = await client.wait_job(newer_than=before, timeout_s=5)
            seen.append(job)
        assert all(j.notify.clean for j in seen)
        assert [j.job_id[:2] for j in seen] == ["v0", "v1", "v0", "v1"]
        coinbases = {j.notify.coinb1 + j.notify.coinb2 for j in seen}
        assert len(coinbases) == 4  # every job is new work
        assert any(b"/asicrc-vbm1/" in j.notify.coinb1 + j.notify.coinb2 for j in seen)  # the second session's template
        stats = vbm.meter.stats()
        assert stats.gaps == 4 and stats.max_s < 1.0 and stats.pending == 0
        status = vbm.status()
        assert status["jobs_sent"] == 4 and status["prefetch_misses"] == 0
        await asyncio.sleep(0.05)
        assert status["prefetched"] >= 0 and len(vbm._queue) == 4  # refilled in the background
    finally:
        await client.close()
        await vbm.stop()
        await server.stop()
