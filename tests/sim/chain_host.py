"""A minimal host for the chain simulators' tests: a real pty opened through pyserial, frames out, decoded replies
in (each with the chain clock's time it arrived, as firmware timestamps register reads)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import serial_asyncio_fast

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.stratum.jobs import TemplateJobSource
from asicrc.drivers.stratum.work import build_header
from asicrc.native import codecs
from asicrc.native.codecs import Kind


class Host:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: codecs._StreamDecoder,
                 clock: Clock) -> None:
        self.reader, self.writer, self.decoder, self.clock = reader, writer, decoder, clock
        self.records: list[np.void] = []
        self.times: list[float] = []  # chain-clock time each record arrived
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            data = await self.reader.read(4096)
            if not data:
                return
            recs = self.decoder.feed(data)
            now = self.clock.now()
            self.records.extend(recs)
            self.times.extend([now] * len(recs))

    async def send(self, *frames: bytes) -> None:
        for f in frames:
            self.writer.write(f)
        await self.writer.drain()

    async def collect(self, seconds: float) -> list[np.void]:
        start = len(self.records)
        await asyncio.sleep(seconds)
        return self.records[start:]

    async def collect_after(self, frame: bytes, seconds: float) -> list[np.void]:
        """Send ``frame`` and return every record that arrives in the next ``seconds``."""
        start = len(self.records)
        await self.send(frame)
        await asyncio.sleep(seconds)
        return self.records[start:]

    async def read_registers(self, frame: bytes, expect: int, wall_s: float = 2.0) -> list[tuple[float, np.void]]:
        """Send a register read and wait for ``expect`` register replies: (arrival time, record) each."""
        start = len(self.records)
        await self.send(frame)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wall_s
        while True:
            got = [(t, r) for t, r in zip(self.times[start:], self.records[start:], strict=True)
                   if r["kind"] == Kind.REGISTER]
            if len(got) >= expect or loop.time() > deadline:
                return got
            await asyncio.sleep(0.005)

    def set_baud(self, baud: int) -> None:
        self.writer.transport.serial.baudrate = baud  # type: ignore[attr-defined]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.writer.close()


@contextlib.asynccontextmanager
async def open_host(path: str, decoder: codecs._StreamDecoder, clock: Clock = REAL_TIME) -> AsyncIterator[Host]:
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=path, baudrate=115200)
    host = Host(reader, writer, decoder, clock)
    try:
        yield host
    finally:
        await host.close()


def job_header() -> bytes:
    """Fresh work (its ntime is the wall clock: build it once per test and keep it)."""
    notify = TemplateJobSource(8, seed=4).make_job(clean=True)
    return build_header(notify, b"\x01\x02\x03\x04", b"\x00\x00\x00\x07")
