"""A real miner (C-core sha256d search) against the pool over loopback: accepted and rejected shares."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from asicrc.drivers.events import FanOut
from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.native import difficulty_batch

DIFF = 1 / 65536  # ~65k hashes per share: milliseconds in the C core


@pytest.fixture
async def pool() -> AsyncIterator[StratumServer]:
    server = StratumServer(ServerConfig(difficulty=DIFF, job_interval_s=0), fanout=FanOut())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def connect(server: StratumServer, user: str = "rig.1", **kw: object) -> StratumClient:
    client = StratumClient("127.0.0.1", server.port, user, **kw)
    await client.connect()
    await client.wait_job(timeout_s=5)
    return client


async def test_shares_accepted_with_version_rolling(pool: StratumServer) -> None:
    events = pool.fanout.subscribe(kinds={"share"})
    client = await connect(pool)
    job = client.job
    assert job is not None and client.version_mask == 0x1FFFE000 and job.difficulty == DIFF
    shares = []
    for i, vbits in enumerate([0x00002000, 0x1FFFE000, None]):
        shares += find_shares(job, (i + 1).to_bytes(4, "little"), 1, version_bits=vbits)
    for s in shares:
        res = await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce, s.version_bits)
        assert res.accepted, res
    evs = events.get_nowait_all()
    assert [e.data["verdict"] for e in evs] == ["accepted"] * 3
    assert [e.data["version_bits"] for e in evs] == [0x2000, 0x1FFFE000, 0]
    assert all(e.data["achieved_diff"] >= DIFF and e.data["assigned_diff"] == DIFF for e in evs)
    assert all(e.device == "rig_1" and e.source == "stratum" for e in evs)
    assert [e.t_ns for e in evs] == sorted(e.t_ns for e in evs)
    assert all(0 < e.data["job_sent_ns"] < e.t_ns for e in evs)
    conn_id = evs[0].data["connection"]
    est = pool.hashrate(conn_id)
    assert est.shares == 3 and est.low_hs < est.rate_hs < est.high_hs
    await client.close()


async def test_rejections_carry_the_right_codes(pool: StratumServer) -> None:
    events = pool.fanout.subscribe(kinds={"share"})
    client = await connect(pool)
    job = client.job
    assert job is not None
    en2 = b"\x01\x00\x00\x00"
    good, second = find_shares(job, en2, 2, version_bits=0x4000)
    assert (await client.submit(good.job_id, en2, good.ntime, good.nonce, 0x4000)).accepted
    # duplicate
    res = await client.submit(good.job_id, en2, good.ntime, good.nonce, 0x4000)
    assert (res.accepted, res.error_code) == (False, 22)
    # low difficulty: a nonce whose hash does not reach the share target
    header = job.header(en2, version_bits=0x4000)
    diffs = difficulty_batch(header, list(range(200)))
    low_nonce = next(n for n, d in enumerate(diffs) if d < DIFF)
    res = await client.submit(job.job_id, en2, job.notify.ntime, low_nonce, 0x4000)
    assert (res.accepted, res.error_code) == (False, 23)
    # forged: a valid nonce claimed for other version bits does not hash to the target
    res = await client.submit(job.job_id, en2, job.notify.ntime, second.nonce, 0x8000)
    assert (res.accepted, res.error_code) == (False, 23)
    # version bits outside the negotiated mask
    res = await client.submit(job.job_id, en2, job.notify.ntime, second.nonce, 0x4001)
    assert (res.accepted, res.error_code, res.message) == (False, 20, "Version bits outside the negotiated mask")
    # ntime outside the window, wrong extranonce2 size
    res = await client.submit(job.job_id, en2, job.notify.ntime - 1, second.nonce, 0x4000)
    assert (res.accepted, res.error_code) == (False, 20)
    res = await client.submit(job.job_id, b"\x01", job.notify.ntime, second.nonce, 0x4000)
    assert (res.accepted, res.error_code) == (False, 20)
    # unauthorized worker, unknown job
    res = await client.submit(job.job_id, en2, job.notify.ntime, second.nonce, 0x4000, worker="thief")
    assert (res.accepted, res.error_code) == (False, 24)
    res = await client.submit("nope", en2, job.notify.ntime, second.nonce, 0x4000)
    assert (res.accepted, res.error_code) == (False, 21)
    # stale: a clean job replaces the one the share was found on
    pool.push_job(None, clean=True)
    new_job = await client.wait_job(newer_than=job)
    res = await client.submit(second.job_id, en2, second.ntime, second.nonce, 0x4000)
    assert (res.accepted, res.error_code) == (False, 21)
    s = find_shares(new_job, en2, 1)[0]
    assert (await client.submit(s.job_id, en2, s.ntime, s.nonce)).accepted
    verdicts = [e.data["verdict"] for e in events.get_nowait_all()]
    assert verdicts == ["accepted", "duplicate", "low-difficulty", "low-difficulty", "version-out-of-mask",
                        "ntime-out-of-range", "bad-extranonce2", "unauthorized", "job-not-found", "stale",
                        "accepted"]
    await client.close()


async def test_not_subscribed_and_no_version_rolling(pool: StratumServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", pool.port)
    writer.write(b'{"id":7,"method":"mining.submit","params":["a","1","00","00000000","00000000"]}\n')
    line = await asyncio.wait_for(reader.readline(), 5)
    assert b'"error":[25' in line and b'"id":7' in line
    writer.close()
    # a miner that never negotiated version rolling may not roll bits
    client = await connect(pool, version_rolling=None)
    assert client.version_mask == 0 and client.job is not None
    s = find_shares(client.job, b"\0\0\0\x07", 1)[0]
    res = await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce, 0x2000)
    assert res.error_code == 20 and "not negotiated (mining.configure)" in res.message, res
    assert (await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
    await client.close()
