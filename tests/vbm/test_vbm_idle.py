"""The case VBM is meant for: a miner that idles waiting for work, behind a link with latency.

Positive control: a stop-and-wait miner 50 ms (one way) from its pool hashes far more with VBM's job after each
share. Null: a Stratum miner (keeps hashing the job it holds) with non-clean jobs shows no difference. Parts: the
latency relay delays lines in simulated time, in order, and drops over-long lines; the simulated stop-and-wait
miner really stops after a share and resumes on the next job.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from asicrc.daemon.cli import main
from asicrc.drivers.clock import Clock
from asicrc.drivers.sim import SimLV06
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.vtime import run_virtual, running_virtual_loop
from asicrc.reservoir.vbm.ab import AbConfig, run_ab, summarize
from asicrc.reservoir.vbm.latency import DelayRelay


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    return srv, int(srv.sockets[0].getsockname()[1])


async def test_relay_delays_each_line_in_simulated_time_and_keeps_order() -> None:
    clock = Clock(4.0)  # 0.5 simulated s one way = 125 ms wall
    srv, port = await _echo_server()
    relay = DelayRelay(("127.0.0.1", port), 0.5, clock)
    rport = await relay.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", rport)
        t0 = clock.now()
        for i in range(5):
            writer.write(f"line {i}\n".encode())
        await writer.drain()
        got = [await asyncio.wait_for(reader.readline(), 10) for _ in range(5)]
        rtt = clock.now() - t0
        assert got == [f"line {i}\n".encode() for i in range(5)]
        assert 1.0 <= rtt < 6.0  # two one-way delays of 0.5 simulated s (plus this machine's loop latency)
        writer.close()
    finally:
        await relay.stop()
        srv.close()
        await srv.wait_closed()



def test_relay_round_trip_is_exactly_twice_the_delay_on_virtual_time() -> None:
    async def round_trip() -> float:
        loop = running_virtual_loop()
        srv, port = await _echo_server()
        relay = DelayRelay(("127.0.0.1", port), 0.05, loop.clock)
        rport = await relay.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", rport)
            t0 = loop.clock.now()
            writer.write(b"ping\n")
            await writer.drain()
            assert await reader.readline() == b"ping\n"
            writer.close()
            return loop.clock.now() - t0
        finally:
            await relay.stop()
            srv.close()
            await srv.wait_closed()

    assert run_virtual(round_trip) == pytest.approx(0.1, abs=1e-6)  # no machine delay counts as latency

async def test_relay_drops_a_link_with_an_overlong_line() -> None:
    clock = Clock(10.0)
    srv, port = await _echo_server()
    relay = DelayRelay(("127.0.0.1", port), 0.0, clock, max_line=1024)
    rport = await relay.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", rport)
        writer.write(b"x" * 5000 + b"\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, nothing relayed
    finally:
        await relay.stop()
        srv.close()
        await srv.wait_closed()
    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        DelayRelay(("10.0.0.1", 1), 0.1, clock)


async def test_stop_and_wait_miner_stops_after_a_share_until_a_new_job() -> None:
    clock = Clock(20.0)
    server = StratumServer(ServerConfig(difficulty=20_000 / (4 * 2**32), min_difficulty=1e-12, job_interval_s=1e6),
                           clock=clock)
    await server.start()
    dev = SimLV06(serial="SAW-1", seed=1, clock=clock, stratum=("127.0.0.1", server.port), search_rate_hs=20_000,
                  waits_after_share=True)
    try:
        await dev.start()
        await clock.sleep(10.0)
        found = dev.firmware.counters.submitted
        assert found == 1  # one share, then it waits: the pool sends no new job
        hashed, idle = dev.scanner.hashes_done, dev.idle_seconds()
        await clock.sleep(5.0)
        assert dev.scanner.hashes_done == hashed and dev.idle_seconds() >= idle + 4.5
        server.push_job()  # a new job: it works again
        await clock.sleep(5.0)
        assert dev.scanner.hashes_done > hashed and dev.firmware.counters.submitted > found
    finally:
        await dev.stop()
        await server.stop()


@pytest.mark.slow
async def test_vbm_helps_only_the_miner_that_waits_for_work() -> None:
    # a slow clock: event-loop delays of a loaded machine add to the simulated latency in proportion to the speed
    idle = await run_ab(AbConfig(blocks=2, block_s=20.0, warmup_s=1.0, speed=4.0, miner="stop_and_wait",
                                 latency_s=0.05))
    off, on = idle["arms"]["off"], idle["arms"]["on"]
    assert idle["ratio_on_off"]["ci"][0] > 1.0  # positive control: VBM removes the wait
    assert off["miner_idle_fraction"] > 0.8 and on["miner_idle_fraction"] < off["miner_idle_fraction"] - 0.3
    assert on["wait_per_share_ms"] is not None and on["wait_per_share_ms"] >= 100  # at least the round trip
    busy = await run_ab(AbConfig(blocks=2, block_s=20.0, warmup_s=1.0, speed=4.0, clean_jobs=False,
                                 latency_s=0.05))
    lo, hi = busy["ratio_on_off"]["ci"]
    assert lo <= 1.0 <= hi  # null: a miner that never waits gains nothing
    for arm in busy["arms"].values():
        assert arm["miner_idle_fraction"] == 0.0 and arm["stale_shares"] == 0
        assert math.isfinite(arm["stale_work_fraction_of_hashed"])
    text = summarize(idle)
    assert "miner stop_and_wait" in text and "waiting for work" in text


def test_idle_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vbm-ab", "--latency-ms", "5000"]) == 1
    assert "--latency-ms must be 0..2000" in capsys.readouterr().err
    assert main(["vbm-ab", "--miner", "stop_and_wait", "--upstream-pools", "2"]) == 1
    assert "runs against the local pool" in capsys.readouterr().err
    assert main(["vbm-ab", "--job-interval-s", "0"]) == 1
    assert "--job-interval-s must be a number > 0" in capsys.readouterr().err
