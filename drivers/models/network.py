"""Network models (S9, LV06, LB-Box): a BaseDevice whose shares come from our Stratum server."""

from __future__ import annotations

from ..clock import Clock
from ..events import Event, FanOut
from ..registry import ModelData
from ..stratum.router import ShareRouter
from .base import BaseDevice
from .device_spec import DeviceSpec
from .stratum_link import attach, is_share_of, set_worker_difficulty


class NetworkDevice(BaseDevice):
    def __init__(
        self, spec: DeviceSpec, data: ModelData, *, fanout: FanOut, clock: Clock, stratum_server: ShareRouter | None = None
    ) -> None:
        super().__init__(spec, data, fanout=fanout, clock=clock)
        self.stratum_server = stratum_server
        if stratum_server is not None:
            attach(stratum_server, spec.worker_name, spec.device_id)

    def _accepts(self, event: Event) -> bool:
        return event.device == self.spec.device_id or is_share_of(event, self.spec.worker_name)

    async def _send(self, setting: str, value: float) -> None:
        if setting == "difficulty":
            await set_worker_difficulty(self.stratum_server, self.spec.device_id, self.spec.worker_name, value)
            return
        await self._send_setting(setting, value)

    async def _send_setting(self, setting: str, value: float) -> None:
        await super()._send(setting, value)
