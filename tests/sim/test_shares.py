"""Real nonces: every share verifies, and the share stream is the Poisson process of the modeled hashrate."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.sim import SimLBBox, SimLV06, SimS9
from asicrc.drivers.sim.nonces import NonceScanner
from asicrc.drivers.sim.params import LV06
from asicrc.drivers.sim.physics import Physics
from asicrc.drivers.stratum.client import Job
from asicrc.drivers.stratum.jobs import TemplateJobSource
from asicrc.drivers.stratum.server import ServerConfig, StratumServer
from asicrc.native import difficulty_batch


def make_job(difficulty: float, mask: int = 0x1FFFE000) -> Job:
    notify = TemplateJobSource(8, seed=1).make_job(clean=True)
    return Job(notify, bytes.fromhex("01020304"), 4, difficulty, mask, 0)


def scan_counts(difficulty: float, freq_hz: float, seconds: float = 13.0) -> tuple[int, float]:
    physics = Physics(LV06, "LV06-SCAN", start_warm=False)
    physics.set_voltage(1.35)  # keep hardware errors negligible for the rate check
    physics.set_frequency(freq_hz)
    scanner = NonceScanner(hash_scale=physics.expected_hashrate_hs / 20_000 * 485e6 / freq_hz,
                           rng=np.random.default_rng(0))
    scanner.hash_scale = physics.raw_hashrate_hs / 20_000  # 20 kH/s scanned per simulated second
    scanner.set_job(make_job(difficulty))
    found = []
    for k in range(int(seconds / 0.1)):
        shares = scanner.scan(k * 0.1, 0.1, physics)
        for s in shares:
            assert k * 0.1 < s.t_s <= (k + 1) * 0.1 + 1e-9
            header = s.job.header(s.extranonce2, s.ntime, 0, s.version_bits)
            achieved = difficulty_batch(header, np.array([s.nonce], dtype=np.uint32))[0]
            assert achieved >= difficulty
            assert achieved == pytest.approx(s.difficulty)
            assert s.version_bits is not None and s.version_bits & ~0x1FFFE000 == 0
        found += shares
    expected = scanner.hashes_done / (difficulty * 2**32)
    return len(found), expected


def test_scanner_share_rate_is_hashes_over_difficulty_and_every_share_verifies() -> None:
    n1, e1 = scan_counts(2**-12, 485e6)
    n2, e2 = scan_counts(2**-11, 485e6)
    assert e1 == pytest.approx(2 * e2)
    assert abs(n1 - e1) < 4 * np.sqrt(e1) + 1
    assert abs(n2 - e2) < 4 * np.sqrt(e2) + 1


def test_shares_come_at_poisson_times() -> None:
    physics = Physics(LV06, "LV06-POISSON", start_warm=False)
    physics.set_voltage(1.35)
    scanner = NonceScanner(physics.raw_hashrate_hs / 20_000, np.random.default_rng(1))
    scanner.set_job(make_job(2**-20))
    times = [s.t_s for k in range(300) for s in scanner.scan(k * 0.1, 0.1, physics)]
    gaps = np.diff(times)
    assert len(gaps) > 60
    cv = gaps.std() / gaps.mean()
    assert 0.7 < cv < 1.3  # exponential inter-arrival times have CV = 1
    # the rate is the scaled hashrate over the difficulty
    rate = len(times) / 30.0
    assert rate == pytest.approx(20_000 / (2**-20 * 2**32), rel=0.35)


async def test_s9_and_lv06_mine_against_the_project_pool_and_every_share_is_accepted() -> None:
    clock = Clock(10.0)
    server = StratumServer(ServerConfig(difficulty=2**-18, min_difficulty=1e-12, job_interval_s=0), clock=clock)
    await server.start()
    sub = server.fanout.subscribe()
    devs = [SimS9(serial="S9-POOL", seed=1, clock=clock, stratum=("127.0.0.1", server.port)),
            SimLV06(serial="LV06-POOL", seed=2, clock=clock, stratum=("127.0.0.1", server.port))]
    try:
        for d in devs:
            await d.start()
        await asyncio.sleep(2.0)
    finally:
        for d in devs:
            await d.stop()
        await server.stop()
    shares = [e for e in sub.get_nowait_all() if str(e.kind) == "share"]
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


async def test_lbbox_mines_lbry_against_the_project_pool() -> None:
    fast_clock = Clock(10.0)
    server = StratumServer(ServerConfig(difficulty=256 * 2**-21, min_difficulty=1e-12, job_interval_s=0,
                                        lbry=True), clock=fast_clock)
    await server.start()
    sub = server.fanout.subscribe()
    dev = SimLBBox(serial="LB-POOL", seed=3, clock=fast_clock, stratum=("127.0.0.1", server.port))
    try:
        await dev.start()
        await asyncio.sleep(1.5)
    finally:
        await dev.stop()
        await server.stop()
    verdicts = [str(e.data["verdict"]) for e in sub.get_nowait_all() if str(e.kind) == "share"]
    assert len(verdicts) >= 2
    assert set(verdicts) == {"accepted"}
