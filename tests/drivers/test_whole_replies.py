"""Replies as real firmware sends them over a real loopback socket: a JSON body split across TCP segments with a
pause between them, chunked transfer encoding, a server that dribbles bytes, one that never finishes, one that
sends too much. The HTTP client (AxeOS/Goldshell) and the 4028 RPC client must read the whole reply up to a cap,
within one total deadline, and name what went wrong otherwise."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from asicrc.drivers.api.axeos import AxeOSClient
from asicrc.drivers.api.errors import MalformedReply, TransportError
from asicrc.drivers.api.http import MAX_BODY_BYTES, JsonHttp
from asicrc.drivers.api.rpc4028 import MAX_REPLY_BYTES, rpc_request

# A realistic AxeOS /api/system/info body (~1.6 kB, more than one segment on an ESP32's 1436-byte MSS).
INFO = {"power": 13.1, "voltage": 12050.0, "current": 1087.5, "temp": 58.25, "vrTemp": 52, "hashRate": 502.73,
        "expectedHashrate": 520.1, "coreVoltage": 1200, "coreVoltageActual": 1191, "frequency": 485,
        "ssid": "lab", "macAddr": "AA:BB:CC:00:11:22", "hostname": "lv06", "sharesAccepted": 1203,
        "sharesRejected": 4, "uptimeSeconds": 86400, "ASICModel": "BM1366", "version": "v2.1.8",
        "boardVersion": "301", "minerModel": "Lucky Miner LV06", "fanspeed": 60, "fanrpm": 4105,
        "padding": "x" * 1200}
BODY = json.dumps(INFO).encode()

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]


async def serve(write: Writer) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await write(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def head(extra: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Connection: close\r\n\r\n".encode()


async def two_segments(writer: asyncio.StreamWriter) -> None:
    writer.write(head(f"Content-Length: {len(BODY)}\r\n") + BODY[:700])
    await writer.drain()
    await asyncio.sleep(0.05)  # the second TCP segment arrives 50 ms later
    writer.write(BODY[700:])
    await writer.drain()


async def chunked(writer: asyncio.StreamWriter) -> None:
    writer.write(head("Transfer-Encoding: chunked\r\n"))
    for i in range(0, len(BODY), 500):
        part = BODY[i:i + 500]
        writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.02)
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def dribble(writer: asyncio.StreamWriter) -> None:
    """A slow sender: the whole reply in 40-byte pieces every 10 ms (about 0.4 s)."""
    data = head(f"Content-Length: {len(BODY)}\r\n") + BODY
    for i in range(0, len(data), 40):
        writer.write(data[i:i + 40])
        await writer.drain()
        await asyncio.sleep(0.01)


async def no_length_until_close(writer: asyncio.StreamWriter) -> None:
    """HTTP/1.0 style: no Content-Length, the body ends when the server closes (some ESP-IDF servers)."""
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY[:900])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(BODY[900:])
    await writer.drain()


async def endless_dribble(writer: asyncio.StreamWriter) -> None:
    """Slowloris in reverse: one byte every 50 ms forever; each read succeeds, the reply never completes."""
    writer.write(head("Content-Length: 100000\r\n"))
    while True:
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def too_big_chunked(writer: asyncio.StreamWriter) -> None:
    writer.write(head("Transfer-Encoding: chunked\r\n"))
    chunk = b"[" + b"1," * 32767 + b"1]"
    for _ in range(MAX_BODY_BYTES // len(chunk) + 4):
        writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\n\r\n")


@pytest.mark.parametrize("writer", [two_segments, chunked, dribble, no_length_until_close],
                         ids=["two-segments-50ms", "chunked", "dribble", "until-close"])
async def test_http_reads_the_whole_body(writer: Writer) -> None:
    async for port in serve(writer):
        http = JsonHttp(f"http://127.0.0.1:{port}", timeout_s=3.0)
        try:
            assert await http.request("GET", "/api/system/info") == INFO
        finally:
            await http.close()


async def test_axeos_client_comes_up_on_a_segmented_reply() -> None:
    """The defect as a user meets it: the LV06's info reply arrives in two segments; the parsed info is whole."""
    async for port in serve(two_segments):
        client = AxeOSClient("127.0.0.1", port, timeout_s=3.0)
        try:
            info = await client.info()
        finally:
            await client.close()
    assert info.telemetry["temp_chip_c"] == 58.25 and info.hostname == "lv06"


async def test_http_total_deadline_on_a_never_ending_reply() -> None:
    async for port in serve(endless_dribble):
        http = JsonHttp(f"http://127.0.0.1:{port}", timeout_s=0.5)
        t0 = time.monotonic()
        try:
            with pytest.raises(TransportError, match=r"no complete reply within 0\.5 s"):
                await http.request("GET", "/api/system/info")
        finally:
            await http.close()
        # one deadline for the whole exchange (a per-read deadline would never end on a dribble); the slack is a
        # loaded machine's
        assert time.monotonic() - t0 < 5.0


async def test_http_body_cap_across_chunks() -> None:
    async for port in serve(too_big_chunked):
        http = JsonHttp(f"http://127.0.0.1:{port}", timeout_s=5.0)
        try:
            with pytest.raises(MalformedReply, match=f"larger than {MAX_BODY_BYTES} bytes"):
                await http.request("GET", "/x")
        finally:
            await http.close()


DEEP = b"[" * 200_000  # well under the size caps; deep enough that the C JSON decoder hits the recursion limit


async def deep_nesting(writer: asyncio.StreamWriter) -> None:
    writer.write(head(f"Content-Length: {len(DEEP)}\r\n") + DEEP)
    await writer.drain()


async def test_http_deep_nesting_is_a_malformed_reply() -> None:
    """Something answering at a device's address with 200 000 "[": a named MalformedReply (a poll fault), not a
    RecursionError escaping into the poll loop's traceback handler."""
    async for port in serve(deep_nesting):
        http = JsonHttp(f"http://127.0.0.1:{port}", timeout_s=3.0)
        try:
            with pytest.raises(MalformedReply, match="nested too deeply"):
                await http.request("GET", "/api/system/info")
        finally:
            await http.close()


# ---- 4028 RPC --------------------------------------------------------------------------------------------------

RPC_REPLY = json.dumps({"STATUS": [{"STATUS": "S", "Code": 11, "Msg": "Summary", "Description": "bmminer 1.0.0"}],
                        "SUMMARY": [{"Elapsed": 3600, "GHS 5s": "13512.33", "GHS av": 13498.02,
                                     "Accepted": 4102, "Rejected": 3, "Hardware Errors": 36,
                                     "pad": "y" * 3000}], "id": 1}).encode() + b"\0"


async def rpc_serve(write: Writer) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(4096)
            await write(writer)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def rpc_segments(writer: asyncio.StreamWriter) -> None:
    for i in range(0, len(RPC_REPLY), 1400):
        writer.write(RPC_REPLY[i:i + 1400])
        await writer.drain()
        await asyncio.sleep(0.05)


async def rpc_dribble(writer: asyncio.StreamWriter) -> None:
    for i in range(0, len(RPC_REPLY), 30):
        writer.write(RPC_REPLY[i:i + 30])
        await writer.drain()
        await asyncio.sleep(0.002)


async def rpc_endless(writer: asyncio.StreamWriter) -> None:
    writer.write(b'{"STATUS":[')
    while True:
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(0.05)


async def rpc_flood(writer: asyncio.StreamWriter) -> None:
    piece = b" " * 65536
    for _ in range(MAX_REPLY_BYTES // len(piece) + 2):
        writer.write(piece)
        await writer.drain()


@pytest.mark.parametrize("writer", [rpc_segments, rpc_dribble], ids=["segments-50ms", "dribble"])
async def test_rpc_reads_the_whole_reply(writer: Writer) -> None:
    async for port in rpc_serve(writer):
        reply = await rpc_request("127.0.0.1", port, "summary", timeout_s=3.0)
    assert reply["SUMMARY"][0]["Accepted"] == 4102


async def test_rpc_deadline_and_cap() -> None:
    async for port in rpc_serve(rpc_endless):
        t0 = time.monotonic()
        with pytest.raises(TransportError, match=r"no complete reply within 0\.5 s"):
            await rpc_request("127.0.0.1", port, "summary", timeout_s=0.5)
        assert time.monotonic() - t0 < 5.0  # the whole exchange's deadline, with a loaded machine's slack
    async for port in rpc_serve(rpc_flood):
        with pytest.raises(MalformedReply, match=f"larger than {MAX_REPLY_BYTES} bytes"):
            await rpc_request("127.0.0.1", port, "summary", timeout_s=5.0)


async def rpc_deep(writer: asyncio.StreamWriter) -> None:
    writer.write(DEEP + b"\0")
    await writer.drain()


async def test_rpc_deep_nesting_is_a_malformed_reply() -> None:
    async for port in rpc_serve(rpc_deep):
        with pytest.raises(MalformedReply, match="nested too deeply"):
            await rpc_request("127.0.0.1", port, "summary", timeout_s=3.0)
