"""ShareRouter: what a device driver needs from the pool its miner mines on (the one seam between drivers/models
and drivers/stratum). The built-in StratumServer implements it; so does a proxy's downstream server.

A network Device asks the pool to label its worker's shares with the device id (so its share Events carry it)
and changes its share difficulty through the pool's per-connection hook; the pool never calls the device.
"""

from __future__ import annotations

from typing import Protocol


class ShareRouter(Protocol):
    def map_worker(self, worker: str, device_id: str) -> None:
        """Attribute the shares of `worker` (``account.worker`` or ``worker``) to `device_id` from now on."""
        ...

    def connections_for_device(self, device: str) -> list[int]:
        """Ids of the live connections whose shares are attributed to `device`."""
        ...

    def set_difficulty(self, conn_id: int, difficulty: float) -> float:
        """Set that connection's share difficulty now (a fresh job follows); returns the difficulty sent.
        Raises KeyError when the connection has closed."""
        ...
