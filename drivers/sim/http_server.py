"""An aiohttp application served on 127.0.0.1, with the HTTP fault hooks (500s, hangs) every model shares."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..netbind import bind_error
from .faults import FaultKind, FaultState

HttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fault_middleware(faults: FaultState) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: HttpHandler) -> web.StreamResponse:
        hang = faults.take(FaultKind.HTTP_TIMEOUT)
        if hang is not None:
            await asyncio.sleep(hang.value)  # wall seconds: the client's timeout is what is under test
        if faults.take(FaultKind.HTTP_500) is not None:
            return web.Response(status=500, text="Internal Server Error")
        return await handler(request)

    return middleware


class HttpServer:
    """Start/stop an aiohttp app on a fixed or free loopback port (the port is kept across restarts).

    Takes an app factory: an aiohttp Application is frozen by its first runner, so each start builds a new one.
    """

    def __init__(self, make_app: Callable[[], web.Application], host: str = "127.0.0.1", port: int = 0) -> None:
        self.make_app = make_app
        self.host = host
        self.port = port
        self.requests = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise bind_error(exc, self.host, self.port, "HTTP API") from None
        server = site._server
        if self.port == 0 and isinstance(server, asyncio.Server) and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner.cleanup(), 5.0)

    @property
    def listening(self) -> bool:
        return self._runner is not None
