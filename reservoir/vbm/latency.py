"""A link with latency between a miner and its pool: a TCP relay on 127.0.0.1 that delays every line.

The A/B experiment runs miner and pool on loopback, where a round trip takes microseconds; the paper's premise
is a pool 50-200 ms away. `DelayRelay` sits between them and delivers each Stratum line `delay_s` *simulated*
seconds (on the experiment's Clock) after it arrived, in order, in both directions, so a round trip costs
2 × delay_s: the time a share needs to reach the pool and the pool's next job to reach the miner. Memory is
bounded: at most `max_pending` undelivered lines per direction (the reader waits when the link is full) and lines
of at most `max_line` bytes (a longer line closes that connection).
"""

from __future__ import annotations

import asyncio
import contextlib

from asicrc.drivers.clock import Clock

MAX_LINE = 64 * 1024
MAX_PENDING = 4096


class DelayRelay:
    def __init__(self, target: tuple[str, int], delay_s: float, clock: Clock, *, max_line: int = MAX_LINE,
                 max_pending: int = MAX_PENDING) -> None:
        if target[0] != "127.0.0.1":
            raise ValueError(f"the relay forwards to 127.0.0.1 only, got {target[0]!r}")
        if not 0 <= delay_s <= 10:
            raise ValueError(f"one-way delay must be 0..10 s, got {delay_s!r}")
        self.target = target
        self.delay_s = float(delay_s)
        self.clock = clock
        self.max_line = max_line
        self.max_pending = max_pending
        self.port = 0
        self.lines = 0  # lines delivered, both directions
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # one per connection (the server's handler tasks)
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=self.max_line)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        # end the pumps, not the handler tasks: a handler then closes its two sockets and returns normally (the
        # stream server logs a handler task that was itself cancelled as an error)
        for pump in list(self._pumps):
            pump.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target, limit=self.max_line)
        except OSError:
            writer.close()
            if task is not None:
                self._tasks.discard(task)
            return
        pumps = [asyncio.create_task(self._pump(reader, up_writer)), asyncio.create_task(self._pump(up_reader, writer))]
        self._pumps.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in pumps:
                p.cancel()
            for p in pumps:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await p
                self._pumps.discard(p)
            for w in (writer, up_writer):
                w.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read lines as they come; deliver each delay_s simulated seconds after its arrival, in order."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(self.max_pending)

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                due, line = item
                wait = due - self.clock.now()
                if wait > 0:
                    await self.clock.sleep(wait)
                writer.write(line)
                await writer.drain()
                self.lines += 1

        sender = asyncio.create_task(deliver())
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):  # a line longer than max_line: drop the link
                    break
                if not line:
                    break
                await queue.put((self.clock.now() + self.delay_s, line))
            await queue.put(None)
            await sender  # deliver what is in flight before the link closes
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
