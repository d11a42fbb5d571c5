"""Per-connection control hooks of the server, seen through the client: difficulty, job push,
handshake mode, version mask, extranonce change, reconnect, ping; device identity and state events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from asicrc.drivers.events import FanOut
from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.auth import WorkerCredentials
from asicrc.drivers.stratum.client import Job, StratumClient, StratumError
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.native import difficulty_batch
from asicrc.reservoir.rate_encoding import rate_encoded_difficulty

DIFF = 1 / 65536


@pytest.fixture
async def pool() -> AsyncIterator[StratumServer]:
    server = StratumServer(ServerConfig(difficulty=DIFF, job_interval_s=0, min_difficulty=1e-6, max_difficulty=1e3,
                                        workers={"rig": WorkerCredentials(),
                                                 "locked.1": WorkerCredentials("s3cret")},
                                        suggest_difficulty="honour"),
                           fanout=FanOut(), device_map={"rig.s9": "s9-a"})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def connect(server: StratumServer, user: str = "rig.s9", **kw: object) -> tuple[StratumClient, int]:
    client = StratumClient("127.0.0.1", server.port, user, **kw)
    await client.connect()
    await client.wait_job(timeout_s=5)
    conn_ids = [c.id for c in server.active_connections() if user in c.workers]
    return client, conn_ids[-1]


async def test_identity_auth_and_state_events(pool: StratumServer) -> None:
    states = pool.fanout.subscribe(kinds={"state"})
    client, cid = await connect(pool)
    assert pool.connection_info(cid)["device"] == "s9-a"
    assert pool.connections_for_device("s9-a") == [cid]
    bad = StratumClient("127.0.0.1", pool.port, "locked.1", password="wrong")
    with pytest.raises(StratumError) as err:
        await bad.connect()
    assert err.value.code == 24
    await bad.close()
    stranger = StratumClient("127.0.0.1", pool.port, "stranger")
    with pytest.raises(StratumError):
        await stranger.connect()
    await stranger.close()
    ok, _ = await connect(pool, "locked.1", password="s3cret")
    await client.close()
    await asyncio.sleep(0.05)
    evs = [(e.device, e.data["state"]) for e in states.get_nowait_all()]
    assert evs == [("s9-a", "online"), ("locked_1", "online"), ("s9-a", "offline")]
    await ok.close()


async def test_difficulty_and_job_push(pool: StratumServer) -> None:
    client, cid = await connect(pool)
    first = client.job
    # the reservoir's rate encoding (asicrc.reservoir.rate_encoding) through the per-connection difficulty hook
    d = pool.set_difficulty(cid, rate_encoded_difficulty(u=0.5, d_base=1 / 8192, eps=0.5,
                                                         d_min=pool.config.min_difficulty,
                                                         d_max=pool.config.max_difficulty))
    assert d == pytest.approx(1 / 8192)
    job = await client.wait_job(newer_than=first)
    assert client.difficulty == pytest.approx(d) and job.difficulty == pytest.approx(d) and job.notify.clean
    # a share meeting the old, lower difficulty is now low-difficulty
    easy = find_shares(job, b"\0\0\0\1", 8, difficulty=DIFF)
    diffs = difficulty_batch(job.header(b"\0\0\0\1"), [s.nonce for s in easy])
    low = easy[int(np.argmin(diffs))]
    assert diffs.min() < d
    res = await client.submit(low.job_id, low.extranonce2, low.ntime, low.nonce)
    assert (res.accepted, res.error_code) == (False, 23)
    shares = find_shares(job, b"\0\0\0\2", 1)
    res = await client.submit(shares[0].job_id, b"\0\0\0\2", shares[0].ntime, shares[0].nonce)
    assert res.accepted
    assert pool.set_difficulty(cid, 1e9, new_job=False) == 1e3  # clipped to max_difficulty
    await client.close()


async def test_handshake_mode_one_outstanding_job(pool: StratumServer) -> None:
    sent: list[tuple[int, str, int]] = []
    pool.add_job_sent_listener(lambda conn, notify, t_ns: sent.append((conn.id, notify.job_id, t_ns)))
    client, cid = await connect(pool)
    seen: list[Job] = []
    client.add_job_listener(seen.append)
    pool.set_handshake_mode(cid, True)
    first = client.job
    assert first is not None
    job = await client.wait_job(newer_than=first)
    pool.push_job(None)  # broadcasts skip handshake-mode connections
    await asyncio.sleep(0.1)
    assert client.job is job
    s = find_shares(job, b"\0\0\0\3", 1)[0]
    assert (await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
    nxt = await client.wait_job(newer_than=job)
    assert nxt.notify.clean and nxt.job_id != job.job_id and len(seen) == 2
    # the server reported every job it sent to this connection, in order: first job, handshake job, next job
    assert [j for c, j, _ in sent if c == cid] == [first.job_id, job.job_id, nxt.job_id]
    assert [t for *_, t in sent] == sorted(t for *_, t in sent)
    await client.close()


async def test_version_mask_extranonce_ping_reconnect(pool: StratumServer) -> None:
    client, cid = await connect(pool, extranonce_subscribe=True)
    assert await pool.ping(cid) < 1.0
    pool.set_version_mask(cid, 0x00006000)
    old_en1 = client.extranonce1
    new_en1 = pool.set_extranonce(cid)
    job = await client.wait_job(newer_than=client.job)
    assert client.version_mask == 0x6000 and job.version_mask == 0x6000
    assert job.extranonce1 == new_en1 != old_en1
    s = find_shares(job, b"\0\0\0\4", 1, version_bits=0x2000)[0]
    assert (await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce, 0x2000)).accepted
    res = await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce, 0x8000)
    assert res.error_code == 20  # outside the narrowed mask
    plain, pid = await connect(pool, "rig.plain")
    with pytest.raises(ValueError, match="did not subscribe"):
        pool.set_extranonce(pid)
    # client.reconnect: the client drops and comes back with a fresh session
    pool.reconnect(pid, "127.0.0.1", pool.port, 0)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if pid not in pool.connections and plain.connected.is_set() and plain.job is not None:
            break
    assert pid not in pool.connections and plain.connected.is_set()
    await plain.wait_job(timeout_s=5)
    await plain.close()
    await client.close()


async def test_suggest_difficulty_and_malformed_control(pool: StratumServer) -> None:
    client, _ = await connect(pool, suggest_difficulty=0.5)
    await asyncio.sleep(0.05)
    assert client.difficulty == 0.5
    with pytest.raises(KeyError):
        pool.set_difficulty(99999, 1.0)
    with pytest.raises(StratumError) as err:
        await client.call("mining.suggest_difficulty", ["high"])
    assert err.value.code == 20
    with pytest.raises(StratumError, match="Unknown method"):
        await client.call("mining.frobnicate", [])
    await client.close()


async def test_job_payload_goes_into_the_coinbase(pool: StratumServer) -> None:
    client, cid = await connect(pool)
    before = client.job
    notify = pool.push_job(cid, clean=True, payload=b"\x3f\x80\x00\x00")
    job = await client.wait_job(newer_than=before)
    assert job.job_id == notify.job_id and b"/asicrc/" in job.notify.coinb2
    assert job.notify.coinb2.split(b"\xff\xff\xff\xff")[0].endswith(b"\x3f\x80\x00\x00")
    s = find_shares(job, b"\0\0\0\5", 1)[0]
    assert (await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
    with pytest.raises(ValueError, match="max 100"):
        pool.push_job(cid, payload=b"x" * 90)
    await client.close()


async def test_map_worker_live_and_per_worker_devices(pool: StratumServer) -> None:
    events = pool.fanout.subscribe(kinds={"share"})
    client, cid = await connect(pool, "rig.one")
    await client.authorize()  # same worker again is harmless
    assert await client.call("mining.authorize", ["rig.two", "x"]) is True  # a 2nd worker on one connection
    pool.map_worker("rig.one", "lv06-a")
    assert pool.connections_for_device("lv06-a") == [cid]
    job = client.job
    assert job is not None
    s1, s2 = find_shares(job, b"\0\0\0\6", 2)
    assert (await client.submit(s1.job_id, s1.extranonce2, s1.ntime, s1.nonce)).accepted
    assert (await client.submit(s2.job_id, s2.extranonce2, s2.ntime, s2.nonce, worker="rig.two")).accepted
    assert [(e.device, e.data["worker"]) for e in events.get_nowait_all()] == [("lv06-a", "rig.one"),
                                                                            ("rig_two", "rig.two")]
    await client.close()


async def test_bitmain_and_target_suggestions(pool: StratumServer) -> None:
    client, _ = await connect(pool)
    assert await client.call("mining.multi_version", [4]) is True
    target = f"{(0xFFFF << 208) * 4:064x}"  # difficulty 1/4
    assert await client.call("mining.suggest_target", [target]) is True
    await asyncio.sleep(0.05)
    assert client.difficulty == pytest.approx(0.25)
    with pytest.raises(StratumError):
        await client.call("mining.suggest_target", ["zz"])
    await client.close()


async def test_clean_push_to_one_connection_keeps_the_block(pool: StratumServer) -> None:
    a, aid = await connect(pool, "rig.a")
    b, _ = await connect(pool, "rig.b")
    ja, jb = a.job, b.job
    assert ja is not None and jb is not None and ja.notify.prevhash == jb.notify.prevhash
    pool.push_job(aid, clean=True)
    ja2 = await a.wait_job(newer_than=ja)
    assert ja2.notify.clean and ja2.notify.prevhash == jb.notify.prevhash  # b's work is still current
    pool.push_job(None, clean=True)  # a broadcast clean job is a new block for everyone
    jb2 = await b.wait_job(newer_than=jb)
    assert jb2.notify.clean and jb2.notify.prevhash != jb.notify.prevhash
    await a.close()
    await b.close()
