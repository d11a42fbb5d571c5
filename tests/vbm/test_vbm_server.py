"""The VBM option on a real Stratum server over 127.0.0.1, with a real Stratum client submitting real shares."""

from __future__ import annotations

import asyncio

import pytest

from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.proxy import UpstreamProxy
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
        # a job the server sends on its own (a broadcast) closes that gap: job sends are observed server-wide
        server.push_job(None)
        await client.wait_job(newer_than=first, timeout_s=5)
        off = vbm.meter.stats()
        assert (off.gaps, off.pending) == (1, 0) and off.max_s > 0.1
        vbm.meter.reset()
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
        assert vbm.status()["prefetched"] == 8  # both local sources refilled to 4 in the background
        # a share still waiting for its next job when the miner leaves is dropped, not left pending forever
        vbm.disable()
        await submit_one(client, 20)
        assert vbm.meter.stats().pending == 1
        await client.close()
        for _ in range(100):
            if vbm.meter.stats().pending == 0:
                break
            await asyncio.sleep(0.02)
        assert vbm.meter.stats().pending == 0
    finally:
        await client.close()
        await vbm.stop()
        await server.stop()


async def test_vbm_over_several_real_upstream_sessions() -> None:
    """Two StratumServers on 127.0.0.1 act as pools; the VBM rotates the proxy's real upstream sessions."""
    up_diff = DIFF
    pools = [StratumServer(ServerConfig(difficulty=up_diff, job_interval_s=0, extranonce2_size=8)) for _ in range(2)]
    for pool in pools:
        await pool.start()
    proxy = UpstreamProxy([f"127.0.0.1:{p.port}" for p in pools], "acct", config=ServerConfig(difficulty=DIFF))
    server = await proxy.start()
    vbm = VirtualBlockManager(server, VbmConfig(enabled=True, upstream_sessions=2))
    await vbm.start()
    client = StratumClient("127.0.0.1", server.port, "rig.vbm", version_rolling=None)
    try:
        assert vbm.status()["relayed_sessions"] == 2 and vbm.status()["prefetched"] == 0
        await client.connect()
        await client.wait_job(timeout_s=5)
        seen = []
        for k in range(4):
            before = client.job
            await submit_one(client, 1 + k)  # at the pools' difficulty: every share is forwarded upstream
            seen.append(await client.wait_job(newer_than=before, timeout_s=5))
        # the job after each share comes from the next upstream session, and is new work each time
        assert [j.job_id.split(".")[0] for j in seen] == ["u0", "u1", "u0", "u1"]
        assert len({j.notify.coinb1 for j in seen}) == 4 and all(j.notify.clean for j in seen)
        await submit_one(client, 9)
        for _ in range(100):
            if proxy.stats["upstream_accepted"] >= 5:
                break
            await asyncio.sleep(0.02)
        # shares on jobs of both sessions reached the pool that issued them and were accepted there
        assert proxy.stats["upstream_accepted"] == 5 and proxy.stats["upstream_rejected"] == 0
        assert all(s.stats["upstream_accepted"] >= 2 for s in proxy.sessions)
        assert sum(p.stats["accepted"] for p in pools) == 5
        assert vbm.meter.stats().gaps == 5 and vbm.status()["relay_misses"] == 0
    finally:
        await client.close()
        await vbm.stop()
        await proxy.stop()
        for pool in pools:
            await pool.stop()


async def test_vbm_refuses_a_proxy_whose_jobs_would_repeat_work() -> None:
    # pools with a 4-byte extranonce2 (the server default, common at real pools)
    pools = [StratumServer(ServerConfig(difficulty=DIFF, job_interval_s=0)) for _ in range(2)]
    for pool in pools:
        await pool.start()
    urls = [f"127.0.0.1:{p.port}" for p in pools]
    try:
        # the same upstream job sent again would be the same work: the miner would only find duplicates
        direct = UpstreamProxy(urls[0], "acct")
        try:
            with pytest.raises(ValueError, match="derive_jobs"):
                VirtualBlockManager(await direct.start(), VbmConfig(enabled=True))
        finally:
            await direct.stop()
        # 4 bytes = 2 connection prefix + 2 for the miner: no room for a job variant
        tight = UpstreamProxy(urls, "acct")
        try:
            server = await tight.start()
            assert tight.sessions[0].variant_size == 0 and server.config.extranonce2_size == 2
            with pytest.raises(ValueError, match="distinct jobs"):
                VirtualBlockManager(server, VbmConfig(enabled=True, upstream_sessions=2))
        finally:
            await tight.stop()
        # a 1-byte connection prefix leaves one byte of job variant
        roomy = UpstreamProxy(urls, "acct", prefix_size=1)
        try:
            server = await roomy.start()
            assert roomy.sessions[0].variant_size == 1 and server.config.extranonce2_size == 2
            vbm = VirtualBlockManager(server, VbmConfig(enabled=True, upstream_sessions=2))
            assert vbm.status()["relayed_sessions"] == 2
        finally:
            await roomy.stop()
    finally:
        for pool in pools:
            await pool.stop()
