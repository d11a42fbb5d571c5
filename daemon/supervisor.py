"""TaskGroup-based supervision: one task per device/transport, restarted with backoff when it fails.

A child's exception is caught inside its own wrapper, so it never reaches the TaskGroup and never cancels the
siblings: a failing device cannot take the daemon down. Children can be added and removed while running
(SIGHUP reloads); removing one cancels it and waits for its cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from asicrc.drivers.backoff import Backoff

log = logging.getLogger("asicrc.supervisor")

ChildFactory = Callable[[], Awaitable[None]]


@dataclass
class Child:
    name: str
    factory: ChildFactory
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    last_error: str = ""
    running: bool = False
    on_restart: Callable[[int, str], None] | None = None
    backoff: Backoff = field(default_factory=lambda: Backoff(initial_s=0.5, cap_s=60.0))


class Supervisor:
    # A child that ran this long before failing is considered to have been healthy: backoff starts over.
    HEALTHY_AFTER_S = 60.0

    def __init__(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg
        self.children: dict[str, Child] = {}

    def start(self, name: str, factory: ChildFactory,
              on_restart: Callable[[int, str], None] | None = None) -> Child:
        if name in self.children:
            raise ValueError(f"supervisor: a child named {name!r} is already running")
        child = Child(name, factory, on_restart=on_restart)
        child.task = self._tg.create_task(self._keep_running(child), name=f"supervised:{name}")
        self.children[name] = child
        return child

    async def stop(self, name: str, timeout_s: float = 10.0) -> None:
        """Cancel a child and wait for its cleanup. Cancellation is repeated because a piece that swallows one
        CancelledError (a library catching it during connect) must not keep a removed device alive."""
        child = self.children.pop(name, None)
        if child is None or child.task is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not child.task.done() and loop.time() < deadline:
            child.task.cancel()
            await asyncio.wait({child.task}, timeout=min(1.0, max(0.0, deadline - loop.time())))
        if not child.task.done():
            log.error("%s: did not stop within %.0f s; abandoning it", name, timeout_s)
            return
        with contextlib.suppress(asyncio.CancelledError, Exception):
            child.task.result()

    async def stop_all(self, timeout_s: float = 10.0) -> None:
        await asyncio.gather(*(self.stop(name, timeout_s) for name in list(self.children)))

    async def _keep_running(self, child: Child) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            child.running = True
            try:
                await child.factory()
                log.info("%s: finished", child.name)
                child.running = False
                return
            except asyncio.CancelledError:
                child.running = False
                raise
            except Exception as exc:  # the point of a supervisor: contain any failure of one child
                child.running = False
                child.restarts += 1
                leaf = _first_leaf(exc)  # an ExceptionGroup's own text says nothing about what failed
                child.last_error = f"{type(leaf).__name__}: {leaf}"
                if loop.time() - started > self.HEALTHY_AFTER_S:
                    child.backoff.reset()
                delay = child.backoff.next_delay()
                log.warning("%s: failed (%s); restart %d in %.1f s", child.name, child.last_error,
                            child.restarts, delay)
                log.debug("%s: traceback", child.name, exc_info=exc)
                if child.on_restart is not None:
                    child.on_restart(child.restarts, child.last_error)
                await asyncio.sleep(delay)


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
