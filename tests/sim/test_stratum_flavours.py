"""Each simulated model opens its Stratum session in its firmware's message order (raw TCP pool on loopback)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asicrc.drivers.clock import Clock
from asicrc.drivers.sim import SimLBBox, SimLV06, SimMiner, SimS9


class RecordingPool:
    """Answers the handshake minimally and records every client request in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            msg = json.loads(line)
            method, params = msg["method"], msg["params"]
            self.requests.append((method, params))
            result: Any = True
            if method == "mining.configure":
                result = {"version-rolling": True, "version-rolling.mask": "1fffe000"}
            elif method == "mining.subscribe":
                result = [[["mining.notify", "ab"]], "08000002", 4]
            writer.write(json.dumps({"id": msg["id"], "result": result, "error": None}).encode() + b"\n")
            await writer.drain()
        writer.close()


async def handshake_of(make: type[SimMiner], **kwargs: Any) -> list[tuple[str, Any]]:
    pool = RecordingPool()
    await pool.start()
    dev = make(serial="FLAVOUR", clock=Clock(1.0), stratum=("127.0.0.1", pool.port), **kwargs)
    try:
        await dev.start()
        for _ in range(100):
            if dev.stratum_active:  # set once the handshake has completed
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
    finally:
        await dev.stop()
        await pool.stop()
    return pool.requests


async def test_s9_speaks_like_bmminer() -> None:
    reqs = await handshake_of(SimS9)
    assert [m for m, _ in reqs] == ["mining.configure", "mining.subscribe", "mining.authorize"]
    assert reqs[0][1][1]["version-rolling.mask"] == "1fffe000"
    assert reqs[1][1][0].startswith("bmminer/")


async def test_lv06_speaks_like_esp_miner() -> None:
    reqs = await handshake_of(SimLV06, suggest_difficulty=1000.0)
    assert [m for m, _ in reqs] == ["mining.configure", "mining.subscribe", "mining.authorize",
                                    "mining.suggest_difficulty", "mining.extranonce.subscribe"]
    assert reqs[0][1][1]["version-rolling.mask"] == "ffffffff"
    assert reqs[3][1] == [1000.0]


async def test_lbbox_does_not_roll_versions() -> None:
    reqs = await handshake_of(SimLBBox)
    assert [m for m, _ in reqs] == ["mining.subscribe", "mining.authorize"]
