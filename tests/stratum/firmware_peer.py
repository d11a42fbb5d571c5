"""A Stratum peer that speaks exactly like ESP-Miner's client (stratum_api.c), over a raw loopback socket.

Only the wire behaviour the pool must live with is reproduced: the firmware's own message texts, `pong` sent as
a request (``{"id":N,"method":"pong","params":[]}``), a new version mask applied only from the next notify on, and
``version_bits = rolled ^ job_version`` where the chip hashed ``rolled = job_version | bits``. Shares are real:
nonces are searched with sha256d in the C core over the header the firmware's chip would hash.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asicrc.drivers.stratum.work import Notify, build_header
from asicrc.native import difficulty_to_target, search_nonces


class FirmwarePeer:
    def __init__(self, port: int, user: str, password: str = "x") -> None:
        self.port, self.user, self.password = port, user, password
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.extranonce1 = b""
        self.extranonce2_size = 0
        self.difficulty = 0.0
        self.version_mask = 0  # the mask the firmware works with (new masks wait for the next notify)
        self._pending_mask: int | None = None
        self.jobs: dict[str, tuple[Notify, int]] = {}  # job id -> (notify, mask in force for it)
        self.job: Notify | None = None
        self.replies: dict[int, dict[str, Any]] = {}
        self.unexpected: list[dict[str, Any]] = []  # replies to ids the firmware never sent (e.g. errors)
        self.pings_answered = 0
        self._uid = 1
        self._task: asyncio.Task[None] | None = None
        self._job_event = asyncio.Event()
        self._reply_event = asyncio.Event()

    async def connect(self, suggest: float | None = 1000.0) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._task = asyncio.create_task(self._read())
        # ESP-Miner's order: configure (version rolling), subscribe, authorize, suggest_difficulty
        await self.request('{"id":%d,"method":"mining.configure","params":[["version-rolling"],'
                           '{"version-rolling.mask":"ffffffff"}]}')
        result = await self.request('{"id":%d,"method":"mining.subscribe","params":["bitaxe/BM1366/v2.4.0"]}')
        self.extranonce1 = bytes.fromhex(result["result"][1])
        self.extranonce2_size = int(result["result"][2])
        auth = await self.request('{"id":%d,"method":"mining.authorize","params":["' + self.user + '","'
                                  + self.password + '"]}')
        if auth.get("error"):
            raise PermissionError(str(auth["error"]))
        if suggest is not None:
            await self.request('{"id":%d,"method":"mining.suggest_difficulty","params":[' + f"{suggest:g}" + "]}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.writer is not None:
            self.writer.close()

    async def request(self, template: str, timeout_s: float = 5.0) -> dict[str, Any]:
        uid = self._uid
        self._uid += 1
        self._send(template % uid)
        while uid not in self.replies:
            self._reply_event.clear()
            await asyncio.wait_for(self._reply_event.wait(), timeout_s)
        return self.replies.pop(uid)

    def _send(self, line: str) -> None:
        assert self.writer is not None
        self.writer.write(line.encode() + b"\n")

    async def wait_job(self, newer_than: Notify | None = None, timeout_s: float = 5.0) -> Notify:
        while self.job is None or self.job is newer_than:
            self._job_event.clear()
            await asyncio.wait_for(self._job_event.wait(), timeout_s)
        return self.job

    async def _read(self) -> None:
        assert self.reader is not None
        while line := await self.reader.readline():
            msg = json.loads(line)
            method = msg.get("method")
            if method == "mining.notify":
                notify = Notify.from_params(msg["params"])
                if self._pending_mask is not None:  # create_jobs_task: the new mask applies from this job on
                    self.version_mask, self._pending_mask = self._pending_mask, None
                self.jobs[notify.job_id] = (notify, self.version_mask)
                self.job = notify
                self._job_event.set()
            elif method == "mining.set_difficulty":
                self.difficulty = float(msg["params"][0])
            elif method == "mining.set_version_mask":
                self._pending_mask = int(msg["params"][0], 16)
            elif method == "mining.ping":
                self._send(f'{{"id":{msg["id"]},"method":"pong","params":[]}}')  # STRATUM_V1_pong
                self.pings_answered += 1
            elif method is None and isinstance(msg.get("id"), int):
                if msg["id"] == 1 and isinstance(msg.get("result"), dict):  # configure reply: the granted mask
                    self.version_mask = int(msg["result"].get("version-rolling.mask", "0"), 16)
                if msg["id"] < self._uid:
                    self.replies[msg["id"]] = msg
                else:
                    self.unexpected.append(msg)
                self._reply_event.set()
            elif method is None:
                self.unexpected.append(msg)

    def find(self, notify: Notify, extranonce2: bytes, chip_bits: int, count: int = 1,
             difficulty: float | None = None) -> list[int]:
        """Nonces whose header, as the chip hashes it (job version | chip_bits), meets the difficulty."""
        header = build_header(notify, self.extranonce1, extranonce2, nonce=0, version=notify.version | chip_bits)
        target = difficulty_to_target(difficulty if difficulty is not None else self.difficulty)
        found, _ = search_nonces(header, 0, 1 << 26, target, count)
        assert len(found) >= count, "no share found: raise the search budget or lower the difficulty"
        return [int(n) for n in found[:count]]

    async def submit(self, notify: Notify, extranonce2: bytes, nonce: int, version_bits: int | None,
                     worker: str | None = None) -> dict[str, Any]:
        params = [worker or self.user, notify.job_id, extranonce2.hex(), f"{notify.ntime:08x}", f"{nonce:08x}"]
        if version_bits is not None:
            params.append(f"{version_bits:08x}")
        return await self.request('{"id":%d,"method":"mining.submit","params":' + json.dumps(params) + "}")
