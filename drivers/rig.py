"""The rig assembler: the one place where a Stratum pool, simulated miners and the model Devices that drive them are
put together, on one FanOut and one Clock.

The daemon (a pool per flavour, one simulator + Device per configured device, each under supervision), the
experiments (reservoir device backend, VBM A/B) and the benches all build their rigs from these parts:

* :func:`start_pool`: a started :class:`StratumServer` publishing shares on the rig's FanOut;
* :func:`start_simulator`: a started simulated miner of a registry model, mining on a pool;
* :func:`simulated_device_spec`: the DeviceSpec that points a model's host driver at a simulator (its loopback
  management ports and its Stratum worker), so a simulated device is driven through exactly the code path of a
  real one;
* :class:`Rig`: pool + one simulator + its Device as an async context manager, ready when the miner is connected
  and its driver reports telemetry (what an experiment runs on).

Everything listens on 127.0.0.1 (on a virtual-time loop: its in-memory loopback network, asicrc.drivers.vtime).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from .clock import Clock
from .device import Device
from .events import FanOut
from .models import create_device
from .models.device_spec import DeviceSpec
from .registry import MODELS, model_data
from .sim import SimMiner, model_class
from .stratum.server import ServerConfig, StratumServer

LOOPBACK = "127.0.0.1"


async def start_pool(config: ServerConfig, *, fanout: FanOut, clock: Clock, seed: int | None = None) -> StratumServer:
    """A started Stratum pool (`config.port` 0: a free port, read `.port`) publishing on `fanout`; `seed` makes
    its extranonce1 values and template jobs reproducible (experiments)."""
    server = StratumServer(config, fanout=fanout, clock=clock, seed=seed)
    await server.start()
    return server


async def start_simulator(model: str, *, serial: str, seed: int, clock: Clock, pool: tuple[str, int] | None,
                          **options: Any) -> SimMiner:
    """A started simulated miner of `model` (a network model of the registry) mining on `pool`.

    `options` are the simulator's keywords (user, search_rate_hs, tick_s, ambient_c, ...: docs/sim.md)."""
    sim = model_class(model)(serial=serial, seed=seed, clock=clock, stratum=pool, **options)
    await sim.start()
    return sim


def simulated_device_spec(sim: SimMiner, *, device_id: str | None = None, poll_interval_s: float | None = None,
                          where: str = "device", **extra: Any) -> DeviceSpec:
    """The DeviceSpec of the host driver for `sim`: its model, its management ports on 127.0.0.1 and the Stratum
    worker it mines as. `poll_interval_s` defaults to how often the simulated firmware refreshes its API."""
    ports = sim.ports
    raw: dict[str, Any] = {"model": model_data(sim.spec.name).model, "device_id": device_id or sim.device_id,
                           "host": LOOPBACK, "worker": sim.user,
                           "poll_interval_s": float(sim.spec.api_refresh_s if poll_interval_s is None
                                                    else poll_interval_s), **extra}
    if "http" in ports:
        raw["http_port"] = int(ports["http"])
    if "rpc" in ports:
        raw["rpc_port"] = int(ports["rpc"])
    return DeviceSpec.from_mapping(raw, where=where)


def pool_config_for(model: str, config: ServerConfig) -> ServerConfig:
    """`config` for the pool flavour `model` mines on (the LB-Box mines LBRY)."""
    lbry = MODELS[model].pool == "lbry"
    return config if config.lbry == lbry else replace(config, lbry=lbry)


@dataclass(frozen=True, slots=True)
class RigOptions:
    pool: ServerConfig = field(default_factory=lambda: ServerConfig(host=LOOPBACK, port=0, job_interval_s=0.0))
    sim: Mapping[str, Any] = field(default_factory=dict)  # simulator keywords (search_rate_hs, tick_s, ...)
    connect_timeout_s: float = 30.0  # wall seconds for the miner to connect and its driver to report telemetry
    stop_timeout_s: float = 10.0  # per part while stopping


class Rig:
    """A pool, one simulated miner mining on it and the model Device that drives it; an async context manager.

    Inside the ``async with``: ``server`` (the pool), ``sim`` (the simulated miner), ``device`` (its host driver,
    started) and ``conn_id`` (the miner's Stratum connection) are set, all publishing on ``fanout``."""

    def __init__(self, model: str, *, seed: int, clock: Clock, serial: str | None = None,
                 options: RigOptions | None = None, fanout: FanOut | None = None) -> None:
        model_class(model)  # an unknown or unsimulated model is refused before anything starts
        self.model = model
        self.seed = seed
        self.clock = clock
        self.serial = serial or f"RIG-{model.upper()}-{seed:04d}"
        self.options = options or RigOptions()
        self.fanout = fanout if fanout is not None else FanOut()
        self._server: StratumServer | None = None
        self._sim: SimMiner | None = None
        self._device: Device | None = None
        self.conn_id = 0

    @property
    def server(self) -> StratumServer:
        if self._server is None:
            raise RuntimeError("the rig is not started (use `async with Rig(...)`)")
        return self._server

    @property
    def sim(self) -> SimMiner:
        if self._sim is None:
            raise RuntimeError("the rig is not started (use `async with Rig(...)`)")
        return self._sim

    @property
    def device(self) -> Device:
        if self._device is None:
            raise RuntimeError("the rig is not started (use `async with Rig(...)`)")
        return self._device

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _start(self) -> None:
        opts = self.options
        self._server = await start_pool(pool_config_for(self.model, opts.pool), fanout=self.fanout,
                                        clock=self.clock, seed=self.seed)
        self._sim = await start_simulator(self.model, serial=self.serial, seed=self.seed, clock=self.clock,
                                          pool=(LOOPBACK, self._server.port), **opts.sim)
        self._server.map_worker(self._sim.user, self._sim.device_id)
        self._device = create_device(simulated_device_spec(self._sim), fanout=self.fanout, clock=self.clock,
                                     stratum_server=self._server)
        await self._device.start()
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.connect_timeout_s
        while loop.time() < deadline:
            conns = self.server.connections_for_device(self.sim.device_id)
            tel = await self.device.telemetry()
            if conns and tel.get("frequency_hz"):
                self.conn_id = conns[0]
                return
            await asyncio.sleep(0.02)
        raise ValueError(f"simulated {self.model} did not connect and report telemetry within "
                         f"{self.options.connect_timeout_s} s")

    async def _stop(self) -> None:
        for part in (self._device, self._sim, self._server):
            if part is not None:
                # the run's data is already in; a part that fails or hangs while stopping must not lose it
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(part.stop(), self.options.stop_timeout_s)
