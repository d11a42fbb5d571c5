"""Real nonces: every share verifies, and the share stream is the Poisson process of the modelled hashrate."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from asicrc.drivers.events import Event
from asicrc.drivers.sim import SimLBBox, SimLV06, SimMiner, SimS9
from asicrc.drivers.sim.nonces import NonceScanner, ShareArrivals
from asicrc.drivers.sim.params import LV06
from asicrc.drivers.sim.physics import Physics
from asicrc.drivers.stratum.client import Job
from asicrc.drivers.stratum.jobs import TemplateJobSource
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.drivers.vtime import run_virtual, running_virtual_loop
from asicrc.native import difficulty_batch


def make_job(difficulty: float, mask: int = 0x1FFFE000) -> Job:
    notify = TemplateJobSource(8, seed=1).make_job(clean=True)
    return Job(notify, bytes.fromhex("01020304"), 4, difficulty, mask, 0)


def test_every_found_share_meets_the_job_difficulty_and_the_search_costs_one_over_p() -> None:
    physics = Physics(LV06, "LV06-SCAN", start_warm=False)
    physics.set_voltage(1.35)  # keep hardware errors negligible
    scanner = NonceScanner(hash_scale=physics.raw_hashrate_hs / 20_000, rng=np.random.default_rng(0))
    difficulty = 2**-20
    scanner.set_job(make_job(difficulty))
    # difficulty 1 is the target 0xffff * 2^208, so p = (1 - 2^-16) / (D 2^32)
    assert scanner.share_probability == pytest.approx(1 / (difficulty * 2**32), rel=2e-5)
    assert scanner.share_rate(physics) == pytest.approx(20_000 * scanner.share_probability, rel=1e-9)
    shares = [scanner.find(0.1 * k, physics) for k in range(300)]
    found = [s for s in shares if s is not None]
    assert len(found) == scanner.found and scanner.found + scanner.hw_dropped == 300 and scanner.lost == 0
    for s in found:
        header = s.job.header(s.extranonce2, s.ntime, 0, s.version_bits)
        achieved = difficulty_batch(header, np.array([s.nonce], dtype=np.uint32))[0]
        assert achieved >= difficulty
        assert achieved == pytest.approx(s.difficulty)
        assert s.version_bits is not None and s.version_bits & ~0x1FFFE000 == 0
    # the search for the next winning nonce is geometric with mean 1/p (here 2^12): 300 searches within 4 sigma
    per_share = scanner.hashes_searched / 300
    assert abs(per_share - 2**12) < 4 * 2**12 / np.sqrt(300)
    # distinct nonces: the cursor moves on after each find
    assert len({s.nonce for s in found}) == len(found)


def test_share_arrivals_follow_a_piecewise_constant_rate_exactly() -> None:
    arrivals = ShareArrivals(np.random.default_rng(3))
    # rate 5/s for 400 s, then 20/s for 100 s, re-timed every 0.1 s (as the physics tick does): counts must be
    # Poisson(2000) and Poisson(2000), gaps exponential
    times: list[float] = []
    t_next = arrivals.update(0.0, 5.0)
    for k in range(1, 5001):
        tick = 0.1 * k
        while t_next is not None and t_next <= tick:
            times.append(t_next)
            t_next = arrivals.arrived(t_next)
        t_next = arrivals.update(tick, 5.0 if tick < 400 else 20.0)
    t = np.array(times)
    first, second = int((t < 400).sum()), int((t >= 400).sum())
    assert abs(first - 2000) < 4 * np.sqrt(2000)
    assert abs(second - 2000) < 4 * np.sqrt(2000)
    gaps = np.diff(t[t < 400])
    assert 0.9 < gaps.std() / gaps.mean() < 1.1  # exponential inter-arrival times have CV = 1
    assert arrivals.update(500.0, 0.0) is None  # rate 0: no share is due


def test_share_arrivals_rate_change_keeps_the_work_already_done() -> None:
    # a change of rate half-way through a share's work: the rest is done at the new rate (memoryless and exact)
    rng = np.random.default_rng(5)
    need = float(np.random.default_rng(5).standard_exponential())
    arrivals = ShareArrivals(rng)
    t1 = arrivals.update(0.0, 1.0)
    assert t1 == pytest.approx(need)
    t2 = arrivals.update(need / 2, 4.0)
    assert t2 == pytest.approx(need / 2 + need / 2 / 4.0)


def test_s9_and_lv06_mine_against_the_project_pool_and_every_share_is_accepted() -> None:
    async def mine() -> tuple[list[Event], list[SimMiner]]:
        clock = running_virtual_loop().clock
        server = StratumServer(ServerConfig(difficulty=2**-18, min_difficulty=1e-12, job_interval_s=0),
                               clock=clock)
        await server.start()
        sub = server.fanout.subscribe()
        devs: list[SimMiner] = [SimS9(serial="S9-POOL", seed=1, clock=clock, stratum=("127.0.0.1", server.port)),
                                SimLV06(serial="LV06-POOL", seed=2, clock=clock, stratum=("127.0.0.1", server.port))]
        try:
            for d in devs:
                await d.start()
            await asyncio.sleep(20.0)  # simulated seconds (virtual time: no wall-clock flakes under load)
        finally:
            for d in devs:
                await d.stop()
            await server.stop()
        return sub.get_nowait_all(), devs

    events, devs = run_virtual(mine)
    shares = [e for e in events if str(e.kind) == "share"]
    by_dev: dict[str, list[str]] = {}
    for e in shares:
        by_dev.setdefault(e.device, []).append(str(e.data["verdict"]))
    assert len(by_dev) == 2
    for verdicts in by_dev.values():
        assert len(verdicts) >= 3
        assert set(verdicts) == {"accepted"}
    s9 = devs[0]
    assert s9.firmware.counters.accepted >= 3
    # bmminer negotiated version rolling, and its shares carry rolled bits
    assert any(e.data.get("version_bits") for e in shares if "S9" in e.device)


def test_lbbox_mines_lbry_against_the_project_pool() -> None:
    async def mine() -> list[Event]:
        clock = running_virtual_loop().clock
        server = StratumServer(ServerConfig(difficulty=256 * 2**-21, min_difficulty=1e-12, job_interval_s=0,
                                            lbry=True), clock=clock)
        await server.start()
        sub = server.fanout.subscribe()
        dev = SimLBBox(serial="LB-POOL", seed=3, clock=clock, stratum=("127.0.0.1", server.port))
        try:
            await dev.start()
            await asyncio.sleep(15.0)
        finally:
            await dev.stop()
            await server.stop()
        return sub.get_nowait_all()

    events = run_virtual(mine)
    verdicts = [str(e.data["verdict"]) for e in events if str(e.kind) == "share"]
    assert len(verdicts) >= 2
    assert set(verdicts) == {"accepted"}
