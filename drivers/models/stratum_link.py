"""Adapter between a network device and the Stratum server it mines against (asicrc.drivers.stratum.server).

The server publishes every submit as a share Event on the shared FanOut. A device asks the server to label the
shares of its worker with its device id (`ShareRouter.map_worker`); shares are also matched by `data["worker"]`
(`user.worker` or `worker`), so shares that arrived before the mapping still count. Difficulty changes go back
through the server's per-connection hook (`connections_for_device` + `set_difficulty(conn_id, difficulty)`).
"""

from __future__ import annotations

from typing import Any

from ..device import ActuationUnsupported
from ..events import Event, Kind
from ..stratum.router import ShareRouter


def worker_matches(event_worker: Any, worker: str) -> bool:
    """A Stratum user is often `account.worker`: match the whole name or its part after the last dot."""
    if not isinstance(event_worker, str):
        return False
    return event_worker == worker or event_worker.rsplit(".", 1)[-1] == worker


def is_share_of(event: Event, worker: str) -> bool:
    return str(event.kind) == Kind.SHARE and worker_matches(event.data.get("worker"), worker)


def attach(server: ShareRouter, worker: str, device_id: str) -> None:
    """Ask the server to attribute `worker`'s shares to `device_id`."""
    server.map_worker(worker, device_id)


async def set_worker_difficulty(server: ShareRouter | None, device_id: str, worker: str, difficulty: float) -> None:
    """Set the share difficulty of every live connection of this device, effective with a fresh job now."""
    if server is None:
        raise ActuationUnsupported(device_id, "difficulty", "no Stratum server attached to this device")
    conns = list(server.connections_for_device(device_id))
    if not conns:
        raise ActuationUnsupported(
            device_id, "difficulty", f"no live Stratum connection for this device (worker {worker!r})"
        )
    for conn_id in conns:
        try:
            server.set_difficulty(conn_id, difficulty)
        except KeyError as exc:  # the connection closed between the lookup and the change
            raise ActuationUnsupported(device_id, "difficulty", f"Stratum connection went away ({exc})") from exc
