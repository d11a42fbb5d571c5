"""PollPacer: phases spread evenly for any N, polls keep their grid when late, and in-flight polls are bounded."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from asicrc.drivers.pacer import PollPacer, next_deadline


@pytest.mark.parametrize("n", [7, 100, 10_000])
def test_phases_cover_the_interval_evenly(n: int) -> None:
    pacer = PollPacer()
    phases = sorted(pacer.phase() for _ in range(n))
    counts = [0] * 10
    for p in phases:
        counts[int(p * 10)] += 1
    # golden-ratio (Kronecker) sequence: every tenth of the interval gets n/10 phases, give or take a few
    assert max(counts) - min(counts) <= 2
    assert max(b - a for a, b in itertools.pairwise(phases)) < 3.0 / n


def test_next_deadline_keeps_the_grid() -> None:
    assert next_deadline(100.0, 100.2, 10.0) == 110.0  # on time: one interval on
    assert next_deadline(100.0, 125.0, 10.0) == 130.0  # late by 2.5 intervals: the next grid point, not now+10
    assert next_deadline(100.0, 110.0, 10.0) == 120.0  # exactly on a grid point: the following one


async def test_slots_bound_polls_in_flight() -> None:
    pacer = PollPacer(max_in_flight=4)

    async def poll() -> None:
        async with pacer.slot():
            await asyncio.sleep(0.01)

    await asyncio.gather(*(poll() for _ in range(50)))
    assert pacer.peak_in_flight == 4 and pacer.in_flight == 0
    with pytest.raises(ValueError):
        PollPacer(max_in_flight=0)
