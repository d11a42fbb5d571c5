"""Fixtures for the simulator tests: a real Stratum pool (the project's server) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.stratum.server import ServerConfig, StratumServer

# 2^-16: ~65k hashes per share, so the scaled nonce search finds a few shares per second
POOL_DIFF = 1.0 / 65536


@pytest.fixture
def fast_clock() -> Clock:
    return Clock(10.0)


@pytest.fixture
async def pool(fast_clock: Clock) -> AsyncIterator[StratumServer]:
    server = StratumServer(ServerConfig(difficulty=POOL_DIFF, min_difficulty=1e-12, job_interval_s=0),
                           clock=fast_clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def lbry_pool(fast_clock: Clock) -> AsyncIterator[StratumServer]:
    server = StratumServer(ServerConfig(difficulty=256 * POOL_DIFF / 4, min_difficulty=1e-12, job_interval_s=0,
                                        lbry=True), clock=fast_clock)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
