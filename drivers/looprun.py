"""Run a coroutine to completion on a fresh event loop, then give the tasks it left behind a bounded time.

`asyncio.run` waits for every leftover task after cancelling it, so one component that swallows cancellation
hangs a finished experiment. Here the leftovers are cancelled and given `cleanup_timeout_s` (of the loop's own
clock: simulated seconds on a virtual-time loop) to finish; the stuck ones are named in one warning line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_loop(loop: asyncio.AbstractEventLoop, factory: Callable[[], Coroutine[Any, Any, T]],
                cleanup_timeout_s: float, what: str = "task") -> T:
    """Run `factory()` on `loop` (set as the thread's event loop meanwhile), cancel what it left behind, shut down
    async generators and the default executor, and close the loop."""
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(factory())
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                _, stuck = loop.run_until_complete(asyncio.wait(pending, timeout=cleanup_timeout_s))
                if stuck:
                    print(f"warning: {len(stuck)} {what}(s) ignored cancellation: "
                          f"{sorted({t.get_name() for t in stuck})}", file=sys.stderr)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
