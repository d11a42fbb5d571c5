"""A minimal upstream pool that rebuilds a rolled version the way public-pool does (MiningJob.ts,
``copyAndUpdateBlock``: ``version = job_version ^ version_bits``), over a raw loopback socket.

It hands out one job whose version has a bit inside the mask (soft-fork signalling, 0x20002000) and judges every
submit by real sha256d of the header it rebuilds, so a share in the BIP310 form of the same work (which a BIP310
pool or ckpool accepts) is "low difficulty" here. Only what the proxy needs: configure, subscribe, authorize,
set_difficulty, notify, submit.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np

from asicrc.drivers.stratum.jobs import TemplateJobSource
from asicrc.drivers.stratum.work import Notify, Submit, build_header
from asicrc.native import difficulty_batch

MASK = 0x1FFFE000
EXTRANONCE1 = bytes.fromhex("a1b2c3d4")
EXTRANONCE2_SIZE = 8


class XorPool:
    def __init__(self, difficulty: float, version: int = 0x20002000) -> None:
        self.difficulty = difficulty
        self.job: Notify = TemplateJobSource(len(EXTRANONCE1) + EXTRANONCE2_SIZE, version=version,
                                             seed=11).make_job(clean=True)
        self.verdicts: list[tuple[int | None, bool]] = []  # (version bits sent, accepted)
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def rebuilt_version(self, version_bits: int | None) -> int:
        return self.job.version if version_bits is None else self.job.version ^ version_bits

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def send(obj: dict[str, Any]) -> None:
            writer.write(json.dumps(obj).encode() + b"\n")

        try:
            while line := await reader.readline():
                msg = json.loads(line)
                method, req_id, params = msg.get("method"), msg.get("id"), msg.get("params", [])
                if method == "mining.configure":
                    send({"id": req_id, "result": {"version-rolling": True, "version-rolling.mask": f"{MASK:08x}"},
                          "error": None})
                elif method == "mining.subscribe":
                    send({"id": req_id, "result": [[], EXTRANONCE1.hex(), EXTRANONCE2_SIZE], "error": None})
                elif method == "mining.authorize":
                    send({"id": req_id, "result": True, "error": None})
                    send({"id": None, "method": "mining.set_difficulty", "params": [self.difficulty]})
                    send({"id": None, "method": "mining.notify", "params": self.job.to_params()})
                elif method == "mining.submit":
                    sub = Submit.from_params(params)
                    header = build_header(self.job, EXTRANONCE1, sub.extranonce2, ntime=sub.ntime, nonce=0,
                                          version=self.rebuilt_version(sub.version_bits))
                    achieved = float(difficulty_batch(header, np.array([sub.nonce], dtype=np.uint32))[0])
                    ok = achieved >= self.difficulty
                    self.verdicts.append((sub.version_bits, ok))
                    send({"id": req_id, "result": True, "error": None} if ok else
                         {"id": req_id, "result": None, "error": [23, "Difficulty too low", ""]})
                else:
                    send({"id": req_id, "result": None, "error": [20, "Unknown method", ""]})
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
