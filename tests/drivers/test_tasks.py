"""cancel_and_wait swallows the child's cancellation but never the caller's."""

from __future__ import annotations

import asyncio

import pytest

from asicrc.drivers.tasks import cancel_and_wait


async def test_child_is_cancelled_and_caller_continues() -> None:
    child = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await cancel_and_wait(child)
    assert child.cancelled()


async def test_caller_cancellation_is_not_swallowed() -> None:
    async def stubborn() -> None:
        # shields itself for a while, so the caller is still waiting when the caller gets cancelled
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.2)
            raise

    child = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    reached_after = False

    async def caller() -> None:
        nonlocal reached_after
        await cancel_and_wait(child)
        reached_after = True

    outer = asyncio.create_task(caller())
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert not reached_after


async def test_failed_or_missing_task_is_fine() -> None:
    async def boom() -> None:
        raise RuntimeError("x")

    t = asyncio.create_task(boom())
    await asyncio.sleep(0)
    await cancel_and_wait(t)
    await cancel_and_wait(None)
