"""Per-connection limits in-process: line rate (reading pauses, nothing is lost), connection cap, idle timeout."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from waiting import wait_for

from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.limits import Limits, TokenBucket
from asicrc.drivers.stratum.server import ServerConfig, StratumServer


def test_limits_validate_and_bucket() -> None:
    with pytest.raises(ValueError, match="max_line_bytes"):
        Limits(max_line_bytes=0)
    with pytest.raises(ValueError, match="lines_per_s"):
        Limits(lines_per_s=0)
    with pytest.raises(ValueError, match="extranonce2_size"):
        ServerConfig(extranonce2_size=0)
    b = TokenBucket(rate=10, burst=2, now=0.0)
    assert b.take(0.0) and b.take(0.0) and not b.take(0.0)
    assert b.wait_s() == pytest.approx(0.1)
    assert not b.take(0.05) and b.take(0.1)


async def test_rate_limit_delays_but_answers_every_line() -> None:
    limits = Limits(lines_per_s=200, line_burst=50)
    async with StratumServer(ServerConfig(limits=limits, job_interval_s=0)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        t0 = time.perf_counter()
        writer.write(b"".join(b'{"id":%d,"method":"mining.ping","params":[]}\n' % i for i in range(150)))
        ids = [json.loads(await asyncio.wait_for(reader.readline(), 5))["id"] for _ in range(150)]
        elapsed = time.perf_counter() - t0
        assert ids == list(range(150))
        assert 0.4 < elapsed < 3.0  # 100 lines beyond the burst at 200/s
        # meanwhile another connection is served at once
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        w2.write(b'{"id":1,"method":"mining.ping","params":[]}\n')
        assert json.loads(await asyncio.wait_for(r2.readline(), 1))["result"] == "pong"
        writer.close()
        w2.close()


async def test_connection_cap_evicts_pending_handshakes_then_refuses_and_idle_timeout() -> None:
    limits = Limits(max_connections=2, idle_timeout_s=0.3, handshake_timeout_s=5, evict_silent_after_s=60)
    async with StratumServer(ServerConfig(limits=limits, job_interval_s=0)) as server:
        client = StratumClient("127.0.0.1", server.port, "a")
        await client.connect()
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        await asyncio.sleep(0.05)
        r3, w3 = await asyncio.open_connection("127.0.0.1", server.port)
        # the pool is full: the pending handshake (w2) makes room, the authorized miner keeps its slot
        assert await asyncio.wait_for(r2.read(), 2) == b""
        assert server.stats["evicted_pending"] == 1 and client.connected.is_set()
        # full with one miner and one pending socket: the next newcomer again only displaces the pending one
        _r4, w4 = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(r3.read(), 2) == b""
        assert server.stats["evicted_pending"] == 2 and server.stats["refused"] == 0
        # the authorized but silent client is dropped by the idle timeout
        for _ in range(100):
            await asyncio.sleep(0.05)
            if not client.connected.is_set():
                break
        assert not client.connected.is_set() and server.stats["idle_timeouts"] >= 1
        await client.close()
        for w in (w2, w3, w4):
            w.close()


async def test_full_pool_of_working_miners_refuses_newcomers() -> None:
    limits = Limits(max_connections=2, evict_silent_after_s=60)
    async with StratumServer(ServerConfig(limits=limits, job_interval_s=0)) as server:
        miners = [StratumClient("127.0.0.1", server.port, f"m{i}") for i in range(2)]
        for m in miners:
            await m.connect()
        r3, w3 = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(r3.read(), 2) == b""  # nobody to displace: refused at the door
        assert server.stats["refused"] == 1 and all(m.connected.is_set() for m in miners)
        w3.close()
        for m in miners:
            await m.close()


async def test_full_duplicate_memory_retires_the_job() -> None:
    limits = Limits(max_shares_per_job=3)
    async with StratumServer(ServerConfig(limits=limits, job_interval_s=0, difficulty=1 / 65536)) as server:
        client = StratumClient("127.0.0.1", server.port, "a")
        await client.connect()
        job = await client.wait_job(timeout_s=5)
        shares = find_shares(job, b"\0\0\0\1", 4)
        for s in shares[:3]:
            assert (await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
        fresh = await client.wait_job(newer_than=job, timeout_s=5)
        assert fresh.job_id != job.job_id
        res = await client.submit(shares[3].job_id, shares[3].extranonce2, shares[3].ntime, shares[3].nonce)
        assert (res.accepted, res.error_code) == (False, 21)
        await client.close()


async def test_client_that_never_reads_is_dropped() -> None:
    limits = Limits(max_write_buffer=4096, lines_per_s=1e6, line_burst=1_000_000)
    async with StratumServer(ServerConfig(limits=limits, job_interval_s=0)) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # little kernel buffering on our side
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        _, writer = await asyncio.open_connection(sock=sock)
        good = StratumClient("127.0.0.1", server.port, "good")
        await good.connect()
        ping = b'{"id":1,"method":"mining.ping","params":[]}\n'
        for _ in range(200):  # up to 200 x 1000 pings whose replies we never read
            if server.stats["slow_readers_dropped"]:
                break
            try:
                writer.write(ping * 1000)
                await asyncio.wait_for(writer.drain(), 2)
            except (ConnectionError, TimeoutError):
                await asyncio.sleep(0.1)
        assert server.stats["slow_readers_dropped"] == 1
        await asyncio.sleep(0.05)
        assert good.connected.is_set() and server.stats["connections"] == 2
        assert len(server.connections) == 1  # aborted at once: only the good client is left
        await good.close()
        writer.close()


def held_keys(server: StratumServer) -> int:
    return sum(len(j.seen) for c in server.connections.values() for j in c.jobs.values())


async def test_duplicate_memory_of_the_pool_is_bounded_against_cheap_shares() -> None:
    # the attack: a pool that honours suggestions lets a stranger mine at 1e-12 (every nonce is a share) and fill
    # the duplicate memory over many jobs; before the pool-wide budget, 32 jobs x 50k keys (~150 MB) per connection
    limits = Limits(max_share_keys=640, lines_per_s=1e6, line_burst=1_000_000)
    config = ServerConfig(limits=limits, job_interval_s=0, difficulty=1 / 65536, min_difficulty=1e-12,
                          suggest_difficulty="honour")
    async with StratumServer(config) as server:
        honest = StratumClient("127.0.0.1", server.port, "honest")
        await honest.connect()
        job = await honest.wait_job(timeout_s=5)
        for s in find_shares(job, b"\0\0\0\1", 3):
            assert (await honest.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)).accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 20)
        writer.write(b'{"id":1,"method":"mining.subscribe","params":[]}\n'
                     b'{"id":2,"method":"mining.authorize","params":["cheap","x"]}\n'
                     b'{"id":3,"method":"mining.suggest_difficulty","params":[1e-12]}\n')
        accepted = stale = 0
        jobs: list[tuple[bytes, bytes]] = []  # (job id, ntime) of every notify, in order
        used: set[bytes] = set()

        def read(msg: dict[str, object]) -> bool:
            """True for a reply; a notify is noted."""
            if msg.get("method") == "mining.notify":
                params = msg["params"]
                assert isinstance(params, list)
                jobs.append((params[0].encode(), params[7].encode()))
            return msg.get("method") is None

        for _round in range(4):  # follow each fresh job the pool hands out, as a real attacker would
            while not jobs or jobs[-1][0] in used:
                read(json.loads(await asyncio.wait_for(reader.readline(), 5)))
            job_id, ntime = jobs[-1]
            used.add(job_id)
            n = 1000
            writer.write(b"".join(b'{"id":%d,"method":"mining.submit","params":["cheap","%s","0000000%d","%s",'
                                  b'"%08x"]}\n' % (10 + i, job_id, _round, ntime, i) for i in range(n)))
            replies = 0
            while replies < n:
                msg = json.loads(await asyncio.wait_for(reader.readline(), 5))
                if read(msg):
                    replies += 1
                    accepted += msg["result"] is True
                    error = msg["error"]
                    stale += isinstance(error, list) and error[0] == 21
            assert server.share_keys == held_keys(server) <= 640
        assert accepted + stale == 4000 and accepted >= 4 * 600 // 2 and server.stats["share_memory_trims"] >= 4
        # the honest miner kept its job and its duplicate memory: a resubmit is still a duplicate, a new share accepted
        s_old, s_new = find_shares(job, b"\0\0\0\1", 1)[0], find_shares(job, b"\0\0\0\2", 1)[0]
        assert (await honest.submit(s_old.job_id, s_old.extranonce2, s_old.ntime, s_old.nonce)).error_code == 22
        assert (await honest.submit(s_new.job_id, s_new.extranonce2, s_new.ntime, s_new.nonce)).accepted
        writer.close()
        await wait_for(lambda: server.share_keys == 4)  # the attacker's keys left with its connection
        assert server.share_keys == held_keys(server) == 4
        await honest.close()
