"""Small asyncio helpers shared by the daemon's loops."""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that a library below swallowed (the request stays counted on the task).

    Some libraries catch CancelledError inside connect/publish paths; a loop that then carries on would never
    stop. Calling this at the top of every loop iteration makes such a cancellation take effect.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
