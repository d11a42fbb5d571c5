"""Upstream proxy against a second server instance acting as the pool."""

from __future__ import annotations

import asyncio

import pytest

from asicrc.drivers.events import FanOut
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.cpuminer import find_shares
from asicrc.drivers.stratum.proxy import UpstreamProxy, parse_stratum_url
from asicrc.drivers.stratum.server import ServerConfig, StratumServer

UP_DIFF = 1 / 32768
DOWN_DIFF = 1 / 524288


def test_parse_url() -> None:
    assert parse_stratum_url("stratum+tcp://127.0.0.1:3333") == ("127.0.0.1", 3333)
    assert parse_stratum_url("127.0.0.1:4444") == ("127.0.0.1", 4444)
    for bad, needle in [("http://x:1", "scheme"), ("stratum+tcp://127.0.0.1", "port"),
                        ("stratum+tcp://h:99999", "port")]:
        with pytest.raises(ValueError, match=needle):
            parse_stratum_url(bad)


async def test_proxy_relays_jobs_and_forwards_good_shares() -> None:
    up_events = FanOut()
    up_shares = up_events.subscribe(kinds={"share"})
    pool = StratumServer(ServerConfig(difficulty=UP_DIFF, job_interval_s=0, extranonce2_size=8),
                         fanout=up_events)
    await pool.start()
    proxy = UpstreamProxy(f"stratum+tcp://127.0.0.1:{pool.port}", "proxyacct.1",
                          config=ServerConfig(difficulty=DOWN_DIFF))
    server = await proxy.start()
    down_shares = server.fanout.subscribe(kinds={"share"})
    try:
        assert server.config.extranonce2_size == 6 and server.config.version_mask == 0x1FFFE000
        miners = [StratumClient("127.0.0.1", server.port, f"m{i}") for i in range(2)]
        for m in miners:
            await m.connect()
            await m.wait_job(timeout_s=5)
        up_en1 = proxy.client.extranonce1
        assert all(m.extranonce1[:4] == up_en1 and len(m.extranonce1) == 6 for m in miners)
        assert miners[0].extranonce1 != miners[1].extranonce1
        expected_forward = 0
        for i, m in enumerate(miners):
            job = m.job
            assert job is not None and pool.current_job is not None and job.job_id == pool.current_job.job_id
            for k in range(6):
                en2 = bytes([i, k, 0, 0, 0, 0])
                # half the shares are searched at the upstream difficulty, so some must be forwarded
                diff = UP_DIFF if k % 2 else DOWN_DIFF
                for s in find_shares(job, en2, 1, difficulty=diff, version_bits=(k << 13) or None):
                    res = await m.submit(s.job_id, s.extranonce2, s.ntime, s.nonce, s.version_bits)
                    assert res.accepted
        # which downstream shares met the upstream difficulty is known from the downstream events
        downs = down_shares.get_nowait_all()
        expected_forward = sum(e.data["achieved_diff"] >= UP_DIFF for e in downs)
        assert len(downs) == 12 and expected_forward >= 6
        for _ in range(100):
            if proxy.stats["upstream_accepted"] + proxy.stats["upstream_rejected"] >= expected_forward:
                break
            await asyncio.sleep(0.02)
        assert proxy.stats["forwarded"] == expected_forward
        assert proxy.stats["upstream_accepted"] == expected_forward and proxy.stats["upstream_rejected"] == 0
        ups = up_shares.get_nowait_all()
        assert len(ups) == expected_forward and all(e.data["verdict"] == "accepted" for e in ups)
        # a share that meets only the downstream difficulty is not forwarded
        assert proxy.stats["below_upstream_difficulty"] == len(downs) - expected_forward
        # a new upstream job reaches the downstream miners
        before = miners[0].job
        notify = pool.push_job(None, clean=True)
        job = await miners[0].wait_job(newer_than=before)
        assert job.job_id == notify.job_id and job.notify.clean
        for m in miners:
            await m.close()
    finally:
        await proxy.stop()
        await pool.stop()


async def test_proxy_follows_an_upstream_session_change() -> None:
    pool = StratumServer(ServerConfig(difficulty=UP_DIFF, job_interval_s=0, extranonce2_size=8))
    await pool.start()
    proxy = UpstreamProxy(f"127.0.0.1:{pool.port}", "acct", config=ServerConfig(difficulty=DOWN_DIFF))
    server = await proxy.start()
    try:
        subscribed = StratumClient("127.0.0.1", server.port, "sub", extranonce_subscribe=True)
        plain = StratumClient("127.0.0.1", server.port, "plain")
        for m in (subscribed, plain):
            await m.connect()
            await m.wait_job(timeout_s=5)
        old_prefix = proxy.client.extranonce1
        old_jobs = (subscribed.job, plain.job)
        conns_before = {w: c.id for c in server.active_connections() for w in c.workers}
        # the pool moves the proxy to a new session (new extranonce1)
        (up_conn,) = [c.id for c in pool.active_connections()]
        pool.reconnect(up_conn)
        for m, old in zip((subscribed, plain), old_jobs, strict=True):
            for _ in range(200):
                job = m.job
                if job is not None and job is not old and job.extranonce1[:4] != old_prefix:
                    break
                await asyncio.sleep(0.02)
        assert proxy.client.extranonce1 != old_prefix
        conns_after = {w: c.id for c in server.active_connections() for w in c.workers}
        # set_extranonce kept the subscribed miner's connection; the other one was sent client.reconnect
        assert conns_after["sub"] == conns_before["sub"] and conns_after["plain"] != conns_before["plain"]
        for m in (subscribed, plain):
            job = m.job
            assert job is not None and job.extranonce1[:4] == proxy.client.extranonce1
            s = find_shares(job, b"\x07\x00\x00\x00\x00\x00", 1, difficulty=UP_DIFF)[0]
            assert (await m.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
        for _ in range(100):
            if proxy.stats["upstream_accepted"] >= 2:
                break
            await asyncio.sleep(0.02)
        assert proxy.stats["upstream_accepted"] == 2 and proxy.stats["upstream_rejected"] == 0
        for m in (subscribed, plain):
            await m.close()
    finally:
        await proxy.stop()
        await pool.stop()
