"""Upstream proxy against a second server instance acting as the pool."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from waiting import wait_for

from asicrc.drivers.events import FanOut
from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.auth import WorkerCredentials
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.gate import Refusal
from asicrc.drivers.stratum.proxy import UpstreamProxy, parse_stratum_url
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.stratum.upstream import VARIANT_SIZE
from asicrc.drivers.stratum.validate import Verdict
from asicrc.native import difficulty_batch

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


async def test_proxy_with_several_upstream_sessions_routes_shares_to_their_pool() -> None:
    # two pools with different extranonce2 sizes and accounts; the second account comes from the URL
    events = [FanOut(), FanOut()]
    pool_shares = [e.subscribe(kinds={"share"}) for e in events]
    pools = [StratumServer(ServerConfig(difficulty=UP_DIFF, job_interval_s=0, extranonce2_size=size,
                                        workers={user: WorkerCredentials(password)}), fanout=ev)
             for size, user, password, ev in ((8, "acct_a", None, events[0]), (6, "acct_b", "pw", events[1]))]
    for pool in pools:
        await pool.start()
    proxy = UpstreamProxy([f"127.0.0.1:{pools[0].port}", f"stratum+tcp://acct_b:pw@127.0.0.1:{pools[1].port}"],
                          "acct_a", config=ServerConfig(difficulty=DOWN_DIFF))
    server = await proxy.start()
    miner = StratumClient("127.0.0.1", server.port, "m0")
    try:
        assert proxy.derive_jobs and [s.client.user for s in proxy.sessions] == ["acct_a", "acct_b"]
        # 6 bytes (smallest upstream) - 2 connection prefix - 2 job variant
        assert server.config.extranonce2_size == 2
        await miner.connect()
        await miner.wait_job(timeout_s=5)
        assert len(miner.extranonce1) == 2
        # a job from each pool reaches the miner (not clean: both stay valid)
        jobs = []
        for pool in pools:
            before = miner.job
            pool.push_job(None, clean=False)
            jobs.append(await miner.wait_job(newer_than=before, timeout_s=5))
        assert [j.job_id.split(".")[0] for j in jobs] == ["u0", "u1"]
        sent = 0
        for i, job in enumerate(jobs):
            for k in range(3):
                for s in find_shares(job, bytes([i, k]), 1, difficulty=UP_DIFF, version_bits=(k << 13) or None):
                    assert (await miner.submit(s.job_id, s.extranonce2, s.ntime, s.nonce, s.version_bits)).accepted
                    sent += 1
        await wait_for(lambda: proxy.stats["upstream_accepted"] + proxy.stats["upstream_rejected"] >= sent)
        assert proxy.stats["upstream_rejected"] == 0 and proxy.stats["upstream_accepted"] == sent == 6
        # each share went to the pool that issued its job, under that pool's account, and the pool accepted it
        for index, (sub, pool) in enumerate(zip(pool_shares, pools, strict=True)):
            ups = sub.get_nowait_all()
            assert len(ups) == 3 and proxy.sessions[index].stats["upstream_accepted"] == 3
            assert all(e.data["verdict"] == "accepted" for e in ups)
            assert {e.data["worker"] for e in ups} == {("acct_a", "acct_b")[index]}
            assert len(bytes.fromhex(ups[0].data["extranonce2"])) == pool.config.extranonce2_size
        # the same upstream job derived twice is two different pieces of work, both routed to it
        session = proxy.sessions[0]
        a, b = session.make_job(), session.make_job()
        assert a.job_id != b.job_id and a.coinb1 != b.coinb1
        ra, rb = session.resolve(a.job_id), session.resolve(b.job_id)
        assert ra is not None and rb is not None and ra[0] is rb[0]
        assert proxy.sessions[1].resolve(a.job_id) is None
    finally:
        await miner.close()
        await proxy.stop()
        for pool in pools:
            await pool.stop()


async def test_several_sessions_survive_an_upstream_session_change_without_moving_miners() -> None:
    pools = [StratumServer(ServerConfig(difficulty=UP_DIFF, job_interval_s=0, extranonce2_size=8))
             for _ in range(2)]
    for pool in pools:
        await pool.start()
    proxy = UpstreamProxy([f"127.0.0.1:{p.port}" for p in pools], "acct", config=ServerConfig(difficulty=DOWN_DIFF))
    server = await proxy.start()
    miner = StratumClient("127.0.0.1", server.port, "m0")
    try:
        await miner.connect()
        await miner.wait_job(timeout_s=5)
        (conn_before,) = [c.id for c in server.active_connections()]
        session = proxy.sessions[0]
        old_en1 = session.client.extranonce1
        (up_conn,) = [c.id for c in pools[0].active_connections()]
        pools[0].reconnect(up_conn)  # the pool moves the proxy's first session to a new extranonce1
        await wait_for(lambda: session.latest is not None and session.latest.extranonce1 != old_en1)
        # equal extranonce2 sizes: no pad, so coinb1 ends with the session's new extranonce1 ‖ job variant
        await wait_for(lambda: miner.job is not None and miner.job.job_id.startswith("u0.")
                       and miner.job.notify.coinb1[:-VARIANT_SIZE].endswith(session.client.extranonce1))
        # the miner kept its connection (the new extranonce1 travels in coinb1) and its shares still count
        assert [c.id for c in server.active_connections()] == [conn_before]
        job = miner.job
        assert job is not None
        s = find_shares(job, b"\x05\x00\x00\x00", 1, difficulty=UP_DIFF)[0]
        assert (await miner.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
        await wait_for(lambda: session.stats["upstream_accepted"] == 1)
        assert proxy.stats["upstream_rejected"] == 0
    finally:
        await miner.close()
        await proxy.stop()
        for pool in pools:
            await pool.stop()


def test_several_upstreams_refuse_the_direct_layout() -> None:
    with pytest.raises(ValueError, match="derive_jobs"):
        UpstreamProxy(["127.0.0.1:1", "127.0.0.1:2"], "acct", derive_jobs=False)


class RefuseAll:
    """A ShareGate for the *upstream* pool: it rejects every share (a pool with its own reasons to refuse)."""

    def admit(self, conn: object, record: object) -> Refusal:
        return Refusal(Verdict.LOW_DIFFICULTY, "Low difficulty share (upstream policy)")


async def test_proxy_never_says_accepted_for_a_share_it_cannot_forward() -> None:
    # issue 13 item 9: with the upstream down the proxy told miners "accepted" and dropped their shares
    pool = StratumServer(ServerConfig(difficulty=UP_DIFF, job_interval_s=0, extranonce2_size=8))
    await pool.start()
    proxy = UpstreamProxy(f"127.0.0.1:{pool.port}", "acct", config=ServerConfig(difficulty=DOWN_DIFF))
    server = await proxy.start()
    shares = server.fanout.subscribe(kinds={"share"})
    miner = StratumClient("127.0.0.1", server.port, "m0")
    try:
        await miner.connect()
        job = await miner.wait_job(timeout_s=5)
        up, below = find_shares(job, b"\1\0\0\0\0\0", 1, difficulty=UP_DIFF)[0], None
        for s in find_shares(job, b"\2\0\0\0\0\0", 20, difficulty=DOWN_DIFF):
            h = job.header(s.extranonce2, nonce=s.nonce)
            if difficulty_batch(h, np.array([s.nonce], dtype=np.uint32))[0] < UP_DIFF:
                below = s
                break
        assert below is not None
        # upstream up: the forwarded share is answered only after the upstream accepted it
        res = await miner.submit(up.job_id, up.extranonce2, up.ntime, up.nonce)
        assert res.accepted and proxy.stats["upstream_accepted"] == 1
        # upstream refuses: the miner hears the upstream's verdict, not "accepted"
        pool.share_gate = RefuseAll()
        up2 = find_shares(job, b"\3\0\0\0\0\0", 1, difficulty=UP_DIFF)[0]
        res = await miner.submit(up2.job_id, up2.extranonce2, up2.ntime, up2.nonce)
        assert not res.accepted and res.error_code == 23 and "upstream" in res.message.lower(), res
        # upstream down: every share (forwardable or not) is refused with a clear error, so miners fail over
        await pool.stop()
        await wait_for(lambda: not proxy.client.connected.is_set())
        for s in (find_shares(job, b"\4\0\0\0\0\0", 1, difficulty=UP_DIFF)[0], below):
            res = await miner.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)
            assert not res.accepted and res.error_code == 20 and "Upstream pool unavailable" in res.message, res
        assert proxy.stats["refused_upstream_down"] == 2
        # events carry the pool's own judgement: valid work (accepted), then refused while the upstream was down
        verdicts = [e.data["verdict"] for e in shares.get_nowait_all()]
        assert verdicts == ["accepted", "accepted", "upstream-unavailable", "upstream-unavailable"]
        assert server.stats["upstream-unavailable"] == 2
    finally:
        await miner.close()
        await proxy.stop()
        await pool.stop()


class NeverAnswer:
    """A ShareGate for the *upstream* pool: it holds every share's reply forever (a hung pool, or a NAT that dropped
    the flow while the proxy's socket still looks open)."""

    def __init__(self) -> None:
        self.held: list[asyncio.Future[Refusal | None]] = []

    def admit(self, conn: object, record: object) -> asyncio.Future[Refusal | None]:
        fut: asyncio.Future[Refusal | None] = asyncio.get_running_loop().create_future()
        self.held.append(fut)
        return fut


async def test_proxy_drops_an_upstream_that_stops_answering_and_refuses_meanwhile() -> None:
    pool = StratumServer(ServerConfig(difficulty=UP_DIFF, job_interval_s=0, extranonce2_size=8))
    await pool.start()
    hung = NeverAnswer()
    pool.share_gate = hung
    proxy = UpstreamProxy(f"127.0.0.1:{pool.port}", "acct", config=ServerConfig(difficulty=DOWN_DIFF),
                          submit_timeout_s=0.3)
    server = await proxy.start()
    miner = StratumClient("127.0.0.1", server.port, "m0")
    try:
        await miner.connect()
        job = await miner.wait_job(timeout_s=5)
        up = find_shares(job, b"\1\0\0\0\0\0", 1, difficulty=UP_DIFF)[0]
        below = find_shares(job, b"\2\0\0\0\0\0", 1, difficulty=DOWN_DIFF)[0]
        jobs_before = proxy.stats["upstream_jobs"]
        proxy.client.reconnect_delay_s = 2.0  # room for the check below on a loaded machine
        res = await miner.submit(up.job_id, up.extranonce2, up.ntime, up.nonce)
        # held, then reported: the upstream never answered, so the miner does not hear "accepted"
        assert not res.accepted and res.error_code == 20 and "did not take the share" in res.message, res
        assert len(hung.held) == 1 and proxy.stats["upstream_timeouts"] == 1
        # the silent session was dropped: until it is back, every share is refused (the miner's failover sees it)
        await wait_for(lambda: not proxy.client.connected.is_set())
        res = await miner.submit(below.job_id, below.extranonce2, below.ntime, below.nonce)
        assert not res.accepted and "Upstream pool unavailable" in res.message, res
        # positive control: the session reconnects and the pool, answering again, gets shares forwarded (a fresh
        # miner: the first one is being moved to the new upstream extranonce by client.reconnect)
        pool.share_gate = None
        await wait_for(lambda: proxy.client.connected.is_set() and proxy.stats["upstream_jobs"] > jobs_before)
        await miner.close()
        miner = StratumClient("127.0.0.1", server.port, "m1")
        await miner.connect()
        job = await miner.wait_job(timeout_s=5)
        up = find_shares(job, b"\3\0\0\0\0\0", 1, difficulty=UP_DIFF)[0]
        res = await miner.submit(up.job_id, up.extranonce2, up.ntime, up.nonce)
        assert res.accepted and proxy.stats["upstream_accepted"] == 1, res
    finally:
        for fut in hung.held:
            fut.cancel()
        await miner.close()
        await proxy.stop()
        await pool.stop()
