"""Abuse against a real `asicrc stratum serve` process: 10k malformed lines, a 1 MB line, 500 idle connections and
a slowloris client. A good miner keeps getting shares accepted, and the server's memory (RSS) stays bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.client import StratumClient

DIFF = 1 / 65536
MALFORMED = [
    b"not json at all",
    b"[1,2,3]",
    b'"a string"',
    b"{}",
    b'{"id":1}',
    b'{"id":2,"method":42}',
    b'{"id":3,"method":"mining.frobnicate","params":[]}',
    b'{"id":4,"method":"mining.submit","params":{"a":1}}',
    b'{"id":5,"method":"mining.submit","params":[1,2,3,4,5]}',
    b'{"id":6,"method":"mining.submit","params":["w","1","zz","00000000","00000000"]}',
    b'{"id":6,"method":"mining.submit","params":["w","1","00","00000000","-1"]}',
    b'{"id":7,"method":"mining.authorize","params":[null]}',
    b'{"id":8,"method":"mining.configure","params":"x"}',
    b'{"id":9,"method":"mining.suggest_difficulty","params":[-1]}',
    b'{"id":10,"method":"mining.authorize","params":[' + b"[" * 50 + b"]" * 50 + b"]}",
    b'{"id":11,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"xyz"}]}',
    b"\xff\xfe\x00garbage",
    b"[" * 8000,
    b'{"id":13,"method":"mining.submit","params":[' + b"[" * 5000 + b"]" * 5000 + b"]}",
    b'{"id":1e999999,"method":"mining.ping"}',
    b'{"id":[1],"method":"mining.ping"}',
    b'{"id":12,"method":"mining.ping","params":"x"}',
]


def rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    assert m, text
    return int(m.group(1))


async def read_until_closed(reader: asyncio.StreamReader, timeout_s: float = 5.0) -> bool:
    """True when the peer closed (EOF or reset) within the timeout."""
    try:
        return await asyncio.wait_for(reader.read(), timeout_s) == b""
    except ConnectionError:
        return True


async def good_share(client: StratumClient, k: int) -> float:
    """Find and submit one share; returns the submit->reply latency in seconds (asserts acceptance)."""
    job = client.job
    assert job is not None
    s = (await asyncio.to_thread(find_shares, job, k.to_bytes(4, "little"), 1))[0]
    t0 = time.perf_counter()
    res = await client.submit(s.job_id, s.extranonce2, s.ntime, s.nonce)
    assert res.accepted, res
    return time.perf_counter() - t0


@pytest.mark.slow
async def test_server_survives_abuse() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asicrc.daemon.cli", "stratum", "serve", "--port", "0", "--difficulty", str(DIFF),
        "--handshake-timeout", "2", "--max-connections", "1000",
        # this test holds 500 idle sockets from one address to load the handshake sweep: lift the per-address
        # caps that would otherwise evict them at once (tested on their own in test_stratum_admission.py)
        "--max-per-ip", "1000", "--max-pending-per-ip", "1000",
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    # the CLI announces its port on stderr (stdout is reserved for --print-shares JSON)
    line = ""
    while "listening on" not in line:
        raw = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert raw, "stratum serve exited before listening"
        line = raw.decode()
    m = re.search(r":(\d+)$", line.strip())
    assert m, line
    port = int(m.group(1))
    # keep draining stderr so the server's warnings under abuse can never block it on a full pipe
    drain = asyncio.create_task(proc.stderr.read())
    writers: list[asyncio.StreamWriter] = []
    idle: list[asyncio.StreamReader] = []
    try:
        miner = StratumClient("127.0.0.1", port, "good.1")
        await miner.connect()
        await miner.wait_job(timeout_s=5)
        await good_share(miner, 1)
        base_rss = rss_kib(proc.pid)

        # 500 idle connections that never say anything
        for _ in range(500):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            idle.append(r)
            writers.append(w)
        assert await good_share(miner, 2) < 1.0

        # 10k malformed lines on one connection: one JSON-RPC error each, the connection stays usable. It
        # authorizes first, so the 2 s handshake timeout (meant for the slowloris below) cannot cut it on a
        # loaded machine
        r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writers.append(w)
        w.write(b'{"id":1,"method":"mining.subscribe","params":[]}\n'
                b'{"id":2,"method":"mining.authorize","params":["noisy.1","x"]}\n')
        while not (json.loads(await asyncio.wait_for(r.readline(), 5))).get("id") == 2:
            pass
        w.write(b"\n".join(MALFORMED[i % len(MALFORMED)] for i in range(10_000)) + b"\n")
        await w.drain()
        errors = 0
        while errors < 10_000:
            reply = json.loads(await asyncio.wait_for(r.readline(), 20))
            if "method" in reply:  # set_difficulty / notify sent after the authorize
                continue
            assert reply["result"] is None and reply["error"][0] == 20, reply
            errors += 1
        w.write(b'{"id":99,"method":"mining.ping","params":[]}\n')
        assert json.loads(await asyncio.wait_for(r.readline(), 5)) == {"id": 99, "result": "pong", "error": None}
        assert await good_share(miner, 3) < 1.0

        # a 1 MB line: an error, then the server closes that connection only
        r2, w2 = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        w2.write(b'{"id":1,"method":"mining.subscribe","params":["' + b"A" * (1 << 20) + b'"]}\n')
        with contextlib.suppress(ConnectionError):
            await w2.drain()
        reply = json.loads(await asyncio.wait_for(r2.readline(), 5))
        assert reply["error"][0] == 20 and "longer than" in reply["error"][1]
        assert await read_until_closed(r2)
        w2.close()

        # slowloris: a few bytes every 50 ms, never a full line; dropped at the handshake timeout
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        t0 = time.monotonic()
        closed_after = None
        for ch in b'{"id":1,"method":"mining.subscribe","params":["slow' + b"w" * 200:
            try:
                w3.write(bytes([ch]))
                await w3.drain()
            except ConnectionError:
                closed_after = time.monotonic() - t0
                break
            await asyncio.sleep(0.05)
            if r3.at_eof() or w3.transport.is_closing():
                closed_after = time.monotonic() - t0
                break
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(r3.read(1), 0.001) == b"":
                    closed_after = time.monotonic() - t0
                    break
        assert closed_after is not None and 1.5 < closed_after < 6.0
        assert await good_share(miner, 4) < 1.0

        # the idle connections were dropped by the handshake timeout too
        closed = await asyncio.gather(*(read_until_closed(r, 2.0) for r in idle))
        assert all(closed)
        grown_kib = rss_kib(proc.pid) - base_rss
        print(f"server RSS grew by {grown_kib} KiB")
        assert grown_kib < 40_000, f"server RSS grew by {grown_kib} KiB"
        assert miner.connected.is_set() and miner.accepted == 4 and miner.rejected == 0
        await miner.close()
    finally:
        for w in writers:
            w.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        await drain
