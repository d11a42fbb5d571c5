"""Stopping a background task without eating the caller's own cancellation.

`with suppress(CancelledError): await task` after `task.cancel()` is the usual idiom, but if the *caller* is
cancelled while it waits, that CancelledError is suppressed too and the caller carries on as if nothing
happened (a daemon that never stops). This helper swallows only the child's cancellation.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait for it to finish; re-raise if the current task itself is being cancelled."""
    if task is None or task.done():
        if task is not None and not task.cancelled():
            task.exception()  # retrieve it so asyncio does not log "exception was never retrieved"
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception:  # the task is being stopped; its failure was reported where it happened
        pass
