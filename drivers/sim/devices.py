"""The simulated miners of the registry's models, their parameters, and a fleet helper that starts several of them on one Clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.registry import MODELS, simulated_models

from .miner_base import SimMiner
from .params import SimParams


def model_class(name: str) -> type[SimMiner]:
    """The simulated miner (Stratum + management API) of a network model of the registry."""
    if name not in simulated_models():
        raise ValueError(f"unknown simulated model {name!r} (choose from {', '.join(simulated_models())})")
    return MODELS[name].sim_class()


def sim_params(name: str) -> SimParams:
    """The simulator's physical and firmware parameters of a model (network or UART chain)."""
    data = MODELS.get(name)
    if data is None or (data.simulator is None and data.chain_simulator is None):
        known = [m for m, d in MODELS.items() if d.simulator is not None or d.chain_simulator is not None]
        raise ValueError(f"unknown model {name!r} (choose from the simulated models {', '.join(known)})")
    return data.sim_params()


class SimFleet:
    """Several simulated devices sharing one Clock; serials are derived from (model, seed, index)."""

    def __init__(self, devices: list[SimMiner]) -> None:
        self.devices = devices

    @classmethod
    def from_counts(cls, s9: int = 0, lv06: int = 0, lbbox: int = 0, *, clock: Clock = REAL_TIME,
                    stratum: tuple[str, int] | None = None, seed: int = 0, **kwargs: Any) -> SimFleet:
        return cls.from_mapping({"s9": s9, "lv06": lv06, "lbbox": lbbox}, clock=clock, stratum=stratum, seed=seed,
                                **kwargs)

    @classmethod
    def from_mapping(cls, counts: Mapping[str, int], *, clock: Clock = REAL_TIME,
                     stratum: tuple[str, int] | None = None, seed: int = 0, **kwargs: Any) -> SimFleet:
        """`counts`: simulated model -> how many; devices are created in registry order."""
        for name in counts:
            model_class(name)  # an unknown model is refused before anything is created
        devices: list[SimMiner] = []
        for name in simulated_models():
            count = counts.get(name, 0)
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
