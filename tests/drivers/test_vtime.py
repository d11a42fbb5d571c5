"""The virtual-time loop: its clock jumps to the next timer when nothing is runnable, thread work costs no simulated
time, and its loopback network (asyncio streams, aiohttp, the Stratum listener) is in memory and exact."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from asicrc.drivers.api.errors import TransportError
from asicrc.drivers.api.http import JsonHttp
from asicrc.drivers.sim.http_server import HttpServer
from asicrc.drivers.vtime import VIRTUAL_EPOCH_UNIX, run_virtual, running_virtual_loop


def test_sleeping_an_hour_takes_no_wall_time_and_lands_on_the_nanosecond() -> None:
    async def main() -> tuple[int, int, float, float]:
        loop = running_virtual_loop()
        t0 = loop.now_ns()
        await asyncio.sleep(3600.0)
        t1 = loop.now_ns()
        fired: list[float] = []
        loop.call_later(0.25, lambda: fired.append(loop.time()))
        await asyncio.sleep(1.0)
        return t0, t1, fired[0] - t1 / 1e9, loop.clock.unix()

    wall0 = time.monotonic()
    t0, t1, late, unix = run_virtual(main)
    assert time.monotonic() - wall0 < 60.0  # an hour simulated; (far) under a minute even on a loaded machine
    assert t1 - t0 == 3600 * 10**9
    assert late == pytest.approx(0.25, abs=1e-9)
    assert unix == pytest.approx(VIRTUAL_EPOCH_UNIX + 3601.0)


def test_thread_work_takes_no_simulated_time() -> None:
    async def main() -> float:
        loop = running_virtual_loop()
        t0 = loop.time()
        timer = asyncio.create_task(asyncio.sleep(0.01))  # a due timer must not fire while the thread works
        await asyncio.to_thread(time.sleep, 0.05)
        assert not timer.done()
        await timer
        return loop.time() - t0

    assert run_virtual(main) == pytest.approx(0.01, abs=1e-9)


def test_streams_over_the_loopback_network_echo_close_and_refuse() -> None:
    async def main() -> None:
        peers: list[object] = []

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peers.append(writer.get_extra_info("peername"))
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello\nworld\n")
        assert await reader.readline() == b"HELLO\n"
        assert await reader.readline() == b"WORLD\n"
        writer.write_eof()
        assert await reader.read() == b""  # the server closed after our EOF
        assert peers and peers[0][0] == "127.0.0.1"  # type: ignore[index]
        writer.close()
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(OSError, match="not a loopback"):
            await asyncio.open_connection("192.0.2.1", 80)
        with pytest.raises(ValueError, match="ssl= is not supported"):  # never silently plaintext
            await asyncio.open_connection("127.0.0.1", port, ssl=True)

    run_virtual(main)


def test_abort_resets_the_peer_and_paused_reading_holds_data() -> None:
    async def main() -> None:
        got: list[bytes] = []
        lost: list[BaseException | None] = []

        class Sink(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                transport.pause_reading()
                asyncio.get_running_loop().call_later(5.0, transport.resume_reading)

            def data_received(self, data: bytes) -> None:
                got.append(data)

            def connection_lost(self, exc: BaseException | None) -> None:
                lost.append(exc)

        loop = running_virtual_loop()
        server = await loop.create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        transport.write(b"a")
        transport.write(b"b")
        await asyncio.sleep(1.0)
        assert got == []  # held while paused
        await asyncio.sleep(5.0)
        assert got == [b"a", b"b"]
        transport.abort()
        await asyncio.sleep(0.1)
        assert len(lost) == 1 and isinstance(lost[0], ConnectionResetError)
        server.close()

    run_virtual(main)


def test_aiohttp_server_and_client_with_timeouts_on_simulated_time() -> None:
    async def main() -> None:
        async def fast(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True, "t": asyncio.get_running_loop().time()})

        async def slow(_request: web.Request) -> web.Response:
            await asyncio.sleep(10.0)
            return web.json_response({"ok": False})

        def app() -> web.Application:
            a = web.Application()
            a.router.add_get("/fast", fast)
            a.router.add_get("/slow", slow)
            return a

        server = HttpServer(app)
        port = await server.start()
        assert port > 0
        http = JsonHttp(f"http://127.0.0.1:{port}", timeout_s=3.0)
        loop = running_virtual_loop()
        t0 = loop.time()
        body = await http.request("GET", "/fast")
        assert body["ok"] is True and body["t"] == pytest.approx(t0, abs=1e-3)
        with pytest.raises(TransportError, match="within 3 s"):
            await http.request("GET", "/slow")
        assert loop.time() - t0 == pytest.approx(3.0, abs=1e-3)  # the client's deadline, in simulated seconds
        await http.close()
        await server.stop()
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"http://127.0.0.1:{port}/fast")

    run_virtual(main)


@pytest.mark.parametrize("model", ["lv06", "s9", "lbbox"])
def test_every_simulated_model_runs_its_rig_on_virtual_time_and_replays_exactly(model: str) -> None:
    """Stratum (and LBRY Stratum) over the in-memory network, AxeOS HTTP, the 4028 RPC over a socketpair."""
    from asicrc.drivers.events import Kind
    from asicrc.drivers.rig import Rig

    async def main() -> tuple[list[tuple[int, str, float]], int, dict[str, object]]:
        loop = running_virtual_loop()
        async with Rig(model, seed=3, clock=loop.clock) as rig:
            sub = rig.fanout.subscribe(kinds={"share", "telemetry"})
            # ~2 shares per simulated second at the rate the simulator really hashes (LBRY: its own diff-1)
            scale = 100.0 if model == "lbbox" else 1.0
            rig.server.set_difficulty(rig.conn_id, scale * rig.sim.search_rate_hs / 2.0**32 / 2.0, new_job=True,
                                      clean=True)
            await asyncio.sleep(60.0)
            events = sub.get_nowait_all()
            shares = [(e.t_ns, str(e.data.get("verdict")), float(e.data.get("achieved_diff", 0.0)))
                      for e in events if e.kind == Kind.SHARE]
            telemetry = sum(1 for e in events if e.kind == Kind.TELEMETRY)
            return shares, telemetry, dict(await rig.device.telemetry())

    first = run_virtual(main)
    shares, telemetry, last = first
    assert len(shares) > 20 and all(v == "accepted" for _, v, _ in shares)
    assert telemetry >= 2 and float(last["frequency_hz"]) > 0  # type: ignore[arg-type]
    assert run_virtual(main) == first


def test_running_virtual_loop_refuses_another_loop() -> None:
    async def which() -> str:
        return type(running_virtual_loop()).__name__

    assert run_virtual(which) == "VirtualTimeLoop"
    with pytest.raises(RuntimeError, match="not on virtual time: the running loop is a _UnixSelectorEventLoop"):
        asyncio.run(which())
