"""Waiting for a server to have processed something (a close, a verdict) without betting on a fixed sleep: a loaded
machine may take longer than any short sleep, and then a test fails (or passes) for the wrong reason."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
