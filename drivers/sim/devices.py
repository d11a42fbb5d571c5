"""The simulated device classes and a fleet helper that starts several of them on one Clock."""

from __future__ import annotations

import asyncio
from typing import Any

from asicrc.drivers.clock import REAL_TIME, Clock

from .lbbox import SimLBBox
from .lv06 import SimLV06
from .miner_base import SimMiner
from .s9 import SimS9

MODEL_CLASSES: dict[str, type[SimMiner]] = {"s9": SimS9, "lv06": SimLV06, "lbbox": SimLBBox}


def model_class(name: str) -> type[SimMiner]:
    try:
        return MODEL_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown simulated model {name!r} (choose from {', '.join(MODEL_CLASSES)})") from None


class SimFleet:
    """Several simulated devices sharing one Clock; serials are derived from (model, seed, index)."""

    def __init__(self, devices: list[SimMiner]) -> None:
        self.devices = devices

    @classmethod
    def from_counts(cls, s9: int = 0, lv06: int = 0, lbbox: int = 0, *, clock: Clock = REAL_TIME,
                    stratum: tuple[str, int] | None = None, seed: int = 0, **kwargs: Any) -> SimFleet:
        devices: list[SimMiner] = []
        for name, count in (("s9", s9), ("lv06", lv06), ("lbbox", lbbox)):
            if count < 0:
                raise ValueError(f"{name} count must be >= 0, got {count}")
            klass = model_class(name)
            for i in range(count):
                devices.append(klass(serial=f"SIM-{name.upper()}-{seed:04d}-{i:03d}", seed=seed * 1000 + i,
                                     clock=clock, stratum=stratum, **kwargs))
        return cls(devices)

    async def start(self) -> None:
        await asyncio.gather(*(d.start() for d in self.devices))

    async def stop(self) -> None:
        await asyncio.gather(*(d.stop() for d in self.devices), return_exceptions=True)

    def ports(self) -> list[dict[str, Any]]:
        return [d.describe() for d in self.devices]

    async def __aenter__(self) -> SimFleet:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
