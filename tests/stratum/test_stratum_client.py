"""Client behaviour: error shapes, server requests it answers, unknown messages, auto-reconnect after a pool restart,
and the reference CPU miner loop on the job hook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asicrc.drivers.sim.cpuminer import CpuMiner
from asicrc.drivers.stratum.client import StratumClient, parse_error
from asicrc.drivers.stratum.server import ServerConfig, StratumServer


def test_parse_error_shapes() -> None:
    assert parse_error(None) == (None, "")
    assert parse_error([21, "Job not found", None]) == (21, "Job not found")
    assert parse_error({"code": -32601, "message": "no"}) == (-32601, "no")
    assert parse_error("Stale") == (None, "Stale")
    assert parse_error(["x"]) == (None, "")


async def test_client_answers_server_requests_and_reports_unknown() -> None:
    """A hand-written pool on a raw socket: the client must answer ping/get_version and surface other methods."""
    seen: list[tuple[str, Any]] = []
    replies: list[dict[str, Any]] = []

    class Recording(StratumClient):
        def on_message(self, method: str, params: Any) -> None:
            seen.append((method, params))

    async def pool(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(3):  # configure (refused, like an old pool), subscribe, authorize
            req = json.loads(await reader.readline())
            if req["method"] == "mining.configure":
                writer.write(json.dumps({"id": req["id"], "result": None, "error": [20, "Unknown method", None]})
                             .encode() + b"\n")
                continue
            result: Any = [[], "aabbccdd", 4] if req["method"] == "mining.subscribe" else True
            writer.write(json.dumps({"id": req["id"], "result": result, "error": None}).encode() + b"\n")
        writer.write(b'{"id":null,"method":"client.show_message","params":["hello"]}\n')
        writer.write(b'{"id":77,"method":"mining.ping","params":[]}\n')
        writer.write(b'{"id":78,"method":"client.get_version","params":[]}\n')
        writer.write(b"this is not json\n")
        writer.write(b'{"id":null,"method":"mining.notify","params":["short"]}\n')
        for _ in range(2):
            replies.append(json.loads(await reader.readline()))
        writer.close()

    srv = await asyncio.start_server(pool, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    client = Recording("127.0.0.1", port, "w", user_agent="test/1")
    await client.connect()
    assert client.version_mask == 0  # configure refused: no version rolling, session goes on
    assert client.extranonce1 == bytes.fromhex("aabbccdd") and client.extranonce2_size == 4
    for _ in range(100):
        if len(replies) == 2:
            break
        await asyncio.sleep(0.02)
    assert replies == [{"id": 77, "result": "pong", "error": None}, {"id": 78, "result": "test/1", "error": None}]
    assert seen == [("client.show_message", ["hello"])]
    assert client.job is None  # the malformed notify was ignored, not fatal
    await client.close()
    srv.close()


async def test_auto_reconnect_after_pool_restart() -> None:
    server = StratumServer(ServerConfig(difficulty=1 / 65536, job_interval_s=0))
    await server.start()
    port = server.port
    client = StratumClient("127.0.0.1", port, "rig.1", auto_reconnect=True, reconnect_delay_s=0.05)
    await client.connect()
    cut = await client.wait_job(timeout_s=5)
    client.abort()  # a cut cable: the client notices and comes back to the same pool
    first = await client.wait_job(newer_than=cut, timeout_s=5)
    assert client.connected.is_set() and first.extranonce1 != cut.extranonce1
    await server.stop()
    for _ in range(100):
        if not client.connected.is_set():
            break
        await asyncio.sleep(0.02)
    assert not client.connected.is_set()
    server2 = StratumServer(ServerConfig(port=port, difficulty=1 / 65536, job_interval_s=0))
    await server2.start()
    try:
        job = await client.wait_job(newer_than=first, timeout_s=10)
        assert client.connected.is_set() and job.extranonce1 == client.extranonce1
        miner = CpuMiner(client, shares_per_job=2)
        miner.start()
        for _ in range(200):
            if len(miner.results) >= 2:
                break
            await asyncio.sleep(0.02)
        assert [r.accepted for r in miner.results] == [True, True]
        await miner.stop()
    finally:
        await client.close()
        await server2.stop()


async def test_a_failing_hook_does_not_end_the_session() -> None:
    class Buggy(StratumClient):
        def on_difficulty(self, difficulty: float) -> None:
            raise RuntimeError("bug in a subclass")

    async with StratumServer(ServerConfig(difficulty=1 / 65536, job_interval_s=0)) as server:
        client = Buggy("127.0.0.1", server.port, "rig.1")

        def bad_listener(job: object) -> None:
            raise RuntimeError("bug in a listener")

        client.add_job_listener(bad_listener)
        await client.connect()
        job = await client.wait_job(timeout_s=5)
        (cid,) = [c.id for c in server.active_connections()]
        server.set_difficulty(cid, 1 / 32768)
        nxt = await client.wait_job(newer_than=job, timeout_s=5)
        assert client.connected.is_set() and nxt.difficulty == 1 / 32768
        await client.close()
