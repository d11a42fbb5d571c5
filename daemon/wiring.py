"""The daemon's joints: the built-in pools, simulated devices and their drivers, the reservoir stream, the TPF gate.

The daemon holds no protocol or numeric logic of its own: every piece is another area's, imported by name and type
(the rig parts come from asicrc.drivers.rig, the one rig assembler). A piece that fails to start (a busy port, an
unwritable recording directory) raises OSError/ValueError, which the daemon turns into one clear log line and a
degraded service instead of a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any

from asicrc.drivers import rig
from asicrc.drivers.clock import Clock
from asicrc.drivers.device import Device
from asicrc.drivers.events import FanOut
from asicrc.drivers.models import DeviceSpec, create_device
from asicrc.drivers.pacer import PollPacer
from asicrc.drivers.sim import SimMiner
from asicrc.drivers.stratum.server import StratumServer
from asicrc.reservoir.stream import FeatureStream
from asicrc.reservoir.tpf.gate import TpfGate

from . import poolsettings
from .config import DeviceConfig, ReservoirConfig, StratumConfig

log = logging.getLogger("asicrc.wiring")


# ---- Stratum server ----------------------------------------------------------------------------------------
class StratumHandle:
    """A built-in pool as the daemon sees it: where it listens and its counters."""

    def __init__(self, server: StratumServer) -> None:
        self.server = server

    @property
    def address(self) -> tuple[str, int]:
        return self.server.config.host, int(self.server.port)

    def stats(self) -> dict[str, float]:
        out: dict[str, float] = {k: v for k, v in self.server.stats.items() if isinstance(v, (int, float))}
        out["connections_total"] = out.pop("connections", 0)
        out["connections"] = len(self.server.connections)
        return out

    async def stop(self) -> None:
        await self.server.stop()


async def start_stratum(cfg: StratumConfig, fanout: FanOut, clock: Clock, lbry: bool = False,
                        devices: Iterable[DeviceConfig] = ()) -> StratumHandle:
    """The built-in pool (Bitcoin, or the LBRY variant the LB-Box speaks) publishing shares on `fanout`; only
    the configured `devices` (from their own address) and [stratum.workers] may authorize (poolsettings)."""
    workers = await poolsettings.pool_workers(cfg, devices)
    config = poolsettings.server_config(cfg, workers, lbry=lbry)
    return StratumHandle(await rig.start_pool(config, fanout=fanout, clock=clock))


async def refresh_stratum_workers(handle: StratumHandle, cfg: StratumConfig, devices: Iterable[DeviceConfig]) -> None:
    """After a reload: who may authorize follows the new device list (live connections keep their workers)."""
    handle.server.set_workers(await poolsettings.pool_workers(cfg, devices), cfg.allow_unknown_workers)


# ---- simulator and device drivers (assembled by asicrc.drivers.rig, as in every other rig) -----------------
async def start_sim(dc: DeviceConfig, clock: Clock, stratum: tuple[str, int] | None) -> SimMiner:
    """Start the simulated device behind `dc`, mining on `stratum` as worker `dc.id`."""
    return await rig.start_simulator(dc.model, serial=f"SIM-{dc.id}", seed=dc.seed, clock=clock, pool=stratum,
                                     user=dc.id)


def create_driver(dc: DeviceConfig, fanout: FanOut, clock: Clock, poll_interval_s: float,
                  sim: SimMiner | None = None, stratum: StratumHandle | None = None,
                  pacer: PollPacer | None = None) -> Device:
    """A drivers/models Device for `dc`; for a simulated device, pointed at the sim's loopback ports."""
    where = f"devices[{dc.id}]"
    if sim is not None:
        spec = rig.simulated_device_spec(sim, device_id=dc.id, poll_interval_s=poll_interval_s, where=where)
    else:
        raw: dict[str, Any] = {"model": dc.model, "device_id": dc.id, "poll_interval_s": poll_interval_s,
                               "worker": dc.id, "host": dc.host}
        if dc.port:
            raw["port"] = dc.port
        if dc.rpc_port:
            raw["rpc_port"] = dc.rpc_port
        if dc.serial_port:
            raw["serial_port"] = dc.serial_port
        spec = DeviceSpec.from_mapping(raw, where=where)
    return create_device(spec, fanout=fanout, clock=clock, stratum_server=stratum.server if stratum else None,
                         pacer=pacer)


# ---- reservoir feature stream and TPF gate ------------------------------------------------------------------
class ReservoirHandle:
    """The live reservoir feature stream."""

    def __init__(self, stream: FeatureStream) -> None:
        self.stream = stream

    def report(self) -> dict[str, Any]:
        return dict(self.stream.report())

    async def run(self) -> None:
        await self.stream.run()

    async def stop(self) -> None:
        await self.stream.stop()


def make_reservoir(cfg: ReservoirConfig, fanout: FanOut, clock: Clock, record_dir: str | None,
                   devices: Callable[[], Collection[str]] | None = None) -> ReservoirHandle:
    """The live feature stream; `devices` (the configured ids, asked every window) bounds what it tracks."""
    return ReservoirHandle(FeatureStream(fanout=fanout, clock=clock, window_s=cfg.window_s, record_dir=record_dir,
                                         devices=devices))


def make_tpf_gate() -> TpfGate:
    return TpfGate()
