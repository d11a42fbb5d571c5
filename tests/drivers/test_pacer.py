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


async def test_slots_are_fifo_and_survive_cancelled_waiters() -> None:
    """Waiters get slots in arrival order; a waiter cancelled while queued, or just after being handed a slot,
    never leaks the slot (every slot comes back, the bound holds, later polls still run)."""
    pacer = PollPacer(max_in_flight=2)
    order: list[int] = []
    gate = asyncio.Event()

    async def poll(i: int) -> None:
        async with pacer.slot():
            order.append(i)
            await gate.wait()

    tasks = [asyncio.create_task(poll(i)) for i in range(8)]
    await asyncio.sleep(0.01)
    assert order == [0, 1] and pacer.in_flight == 2 and pacer.waiting == 6
    tasks[3].cancel()  # queued: skipped
    tasks[0].cancel()  # holding a slot: it goes to the next waiter (2)
    await asyncio.sleep(0.01)
    assert order == [0, 1, 2] and pacer.in_flight == 2
    tasks[1].cancel()  # frees a slot for 4 (3 was cancelled) ...
    await asyncio.sleep(0)  # (1 runs its cancellation and hands the slot over; 4 is due to resume next)
    tasks[4].cancel()  # ... which is cancelled after being handed it, before it ran: the slot moves on to 5
    await asyncio.sleep(0.01)
    assert order == [0, 1, 2, 5] and pacer.in_flight == 2 and pacer.waiting == 2
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == [0, 1, 2, 5, 6, 7] and pacer.in_flight == 0 and pacer.peak_in_flight == 2
    await asyncio.wait_for(poll(8), 1)  # both slots are free again
    assert pacer._free == 2
