"""Per-connection limits in-process: line rate (reading pauses, nothing is lost), connection cap, idle timeout."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

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
