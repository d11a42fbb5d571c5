"""run_on_loop: leftovers of a finished run are cancelled and given a bounded time; one that swallows cancellation
is named in one warning instead of hanging the run (on a virtual-time loop, so the bound costs no wall time)."""

from __future__ import annotations

import asyncio

import pytest

from asicrc.drivers.looprun import run_on_loop
from asicrc.drivers.vtime import VirtualTimeLoop


def test_a_task_that_swallows_cancellation_is_named_and_the_run_returns(capsys: pytest.CaptureFixture[str]) -> None:
    loop = VirtualTimeLoop()

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600.0)
            except asyncio.CancelledError:
                continue

    started: list[float] = []
    left: list[asyncio.Task[None]] = []

    async def main() -> int:
        started.append(loop.time())
        left.append(asyncio.create_task(stubborn(), name="stubborn"))
        left.append(asyncio.create_task(asyncio.sleep(3600.0), name="polite"))
        return 7

    assert run_on_loop(loop, main, cleanup_timeout_s=10.0, what="device task") == 7
    assert loop.is_closed() and loop.time() - started[0] == pytest.approx(10.0)  # waited exactly the bound, in simulated time
    assert all(t.done() for t in left[1:])
    err = capsys.readouterr().err
    assert err == "warning: 1 device task(s) ignored cancellation: ['stubborn']\n"


def test_leftovers_that_honour_cancellation_leave_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    left: list[asyncio.Task[None]] = []

    async def main() -> str:
        left.append(asyncio.create_task(asyncio.sleep(3600.0)))
        return "done"

    assert run_on_loop(VirtualTimeLoop(), main, cleanup_timeout_s=10.0) == "done"
    assert capsys.readouterr().err == "" and left[0].cancelled()
