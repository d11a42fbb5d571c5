"""Client behaviour: error shapes, server requests it answers, unknown messages, auto-reconnect after a pool restart,
and the reference CPU miner loop on the job hook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asicrc.drivers.sim.cpuminer import CpuMiner
from asicrc.drivers.stratum.client import MAX_RECONNECT_WAIT_S, StratumClient, parse_error, reconnect_target
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


def test_reconnect_target_validates_like_a_careful_miner() -> None:
    assert reconnect_target([], "pool.example.com", 3333) == ("pool.example.com", 3333, 0.0)
    assert reconnect_target(["eu.example.com", "4444", 5], "pool.example.com", 3333) == ("eu.example.com", 4444, 5.0)
    assert reconnect_target(["", 4444], "10.0.0.1", 3333) == ("10.0.0.1", 4444, 0.0)
    assert reconnect_target(["pool.example.com", 3333, 1e12], "pool.example.com", 3333)[2] == MAX_RECONNECT_WAIT_S
    for params, needle in ((["pool.example.com", 70000], "out of range"), (["pool.example.com", 0], "out of range"),
                           (["pool.example.com", "33x"], "bad port"), (["pool.example.com", True], "bad port"),
                           (["a b"], "bad host"), (["evil\x00.example.com"], "bad host"),
                           (["attacker.net"], "outside the pool's domain"),
                           (["10.0.0.2"], "outside the pool's domain")):
        target = reconnect_target(params, "pool.example.com" if "example" in str(params) or "attacker" in str(params)
                                  else "10.0.0.1", 3333)
        assert isinstance(target, str) and needle in target, (params, target)


async def test_a_hostile_reconnect_cannot_park_or_redirect_the_client() -> None:
    # client.reconnect with port 70000 killed the reconnect task (OverflowError) and left the session down for
    # good; another host would have taken our work and credentials elsewhere
    async with StratumServer(ServerConfig(difficulty=1 / 65536, job_interval_s=0)) as server:
        client = StratumClient("127.0.0.1", server.port, "rig.1", auto_reconnect=True, reconnect_delay_s=0.05)
        await client.connect()
        job = await client.wait_job(timeout_s=5)
        (cid,) = [c.id for c in server.active_connections()]
        conn = server.connection(cid)
        for params in (["127.0.0.1", 70000, 0], ["192.0.2.1", server.port, 0], ["127.0.0.1", "port"]):
            conn.send_method("client.reconnect", params)
        conn.send_method("client.reconnect", ["127.0.0.1", server.port, float("inf")])
        await asyncio.sleep(0.1)
        assert client.connected.is_set() and server.connections.get(cid) is conn  # all ignored, same session
        # positive control: a well-formed reconnect to the pool itself is followed
        server.reconnect(cid, "127.0.0.1", server.port, 0)
        again = await client.wait_job(newer_than=job, timeout_s=5)
        assert client.connected.is_set() and again.extranonce1 != job.extranonce1
        await client.close()


async def test_a_malformed_version_mask_from_the_pool_is_one_warning(caplog: Any) -> None:
    async with StratumServer(ServerConfig(difficulty=1 / 65536, job_interval_s=0)) as server:
        client = StratumClient("127.0.0.1", server.port, "rig.1")
        await client.connect()
        mask = client.version_mask
        (cid,) = [c.id for c in server.active_connections()]
        server.connection(cid).send_method("mining.set_version_mask", ["zz"])
        server.connection(cid).send_method("mining.set_version_mask", ["00006000"])
        for _ in range(100):
            if client.version_mask != mask:
                break
            await asyncio.sleep(0.01)
        assert client.version_mask == 0x6000 and client.connected.is_set()
        assert "bad mining.set_version_mask" in caplog.text and "Traceback" not in caplog.text
        await client.close()
