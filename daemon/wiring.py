"""Seams to the pieces other areas own: Stratum server, simulator, device drivers, reservoir stream, TPF gate.

The daemon wires these and holds no protocol or numeric logic of its own. Each seam imports its piece lazily;
a piece that is missing or fails to start degrades the daemon with one clear log line instead of a crash.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

from asicrc.drivers import rig
from asicrc.drivers.clock import Clock
from asicrc.drivers.device import Device
from asicrc.drivers.events import FanOut
from asicrc.drivers.models import DeviceSpec, create_device
from asicrc.drivers.sim import SimMiner

from .config import DeviceConfig, ReservoirConfig, StratumConfig

log = logging.getLogger("asicrc.wiring")


class PieceMissing(RuntimeError):
    """A piece owned by another area is not available in this installation."""


def _import(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PieceMissing(f"{what} not available ({module}: {exc})") from None


def _kwargs_for(fn: Any, candidates: dict[str, Any]) -> dict[str, Any]:
    """The subset of `candidates` that `fn` accepts (pieces evolve; pass what they take)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return candidates
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return candidates
    return {k: v for k, v in candidates.items() if k in params}


async def _maybe_await(x: Any) -> Any:
    return await x if inspect.isawaitable(x) else x


# ---- Stratum server ----------------------------------------------------------------------------------------
class StratumHandle:
    def __init__(self, server: Any) -> None:
        self.server = server

    @property
    def address(self) -> tuple[str, int]:
        for attr in ("address", "addr"):
            val = getattr(self.server, attr, None)
            if isinstance(val, tuple) and len(val) >= 2:
                return str(val[0]), int(val[1])
        return str(getattr(self.server, "host", "127.0.0.1")), int(self.server.port)

    def stats(self) -> dict[str, Any]:
        attr = getattr(self.server, "stats", None)
        data = attr() if callable(attr) else attr
        out = {k: v for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}
        conns = getattr(self.server, "connections", None)
        out["connections_total"] = out.pop("connections", 0)
        out["connections"] = len(conns) if isinstance(conns, (dict, list, set)) else int(conns or 0)
        return out

    async def stop(self) -> None:
        await _maybe_await(self.server.stop())


async def start_stratum(cfg: StratumConfig, fanout: FanOut, clock: Clock, lbry: bool = False) -> StratumHandle:
    """The built-in pool (Bitcoin, or the LBRY variant the LB-Box speaks) publishing shares on `fanout`."""
    mod = _import("asicrc.drivers.stratum.server", "built-in Stratum server")
    cls = getattr(mod, "StratumServer", None)
    conf_cls = getattr(mod, "ServerConfig", None)
    if cls is None or conf_cls is None:
        raise PieceMissing("built-in Stratum server not available (asicrc.drivers.stratum.server lacks "
                           "StratumServer/ServerConfig)")
    port = cfg.lbry_port if lbry else cfg.port
    conf = conf_cls(**_kwargs_for(conf_cls, {"host": cfg.host, "port": port, "difficulty": cfg.difficulty,
                                             "lbry": lbry}))
    server = cls(conf, **_kwargs_for(cls, {"fanout": fanout, "clock": clock}))
    await _maybe_await(server.start())
    return StratumHandle(server)


# ---- simulator and device drivers (assembled by asicrc.drivers.rig, as in every other rig) -----------------
async def start_sim(dc: DeviceConfig, clock: Clock, stratum: tuple[str, int] | None) -> SimMiner:
    """Start the simulated device behind `dc`, mining on `stratum` as worker `dc.id`."""
    return await rig.start_simulator(dc.model, serial=f"SIM-{dc.id}", seed=dc.seed, clock=clock, pool=stratum,
                                     user=dc.id)


def create_driver(dc: DeviceConfig, fanout: FanOut, clock: Clock, poll_interval_s: float,
                  sim: SimMiner | None = None, stratum: StratumHandle | None = None) -> Device:
    """A drivers/models Device for `dc`; for a simulated device, pointed at the sim's loopback ports."""
    where = f"devices[{dc.id}]"
    if sim is not None:
        spec = rig.simulated_device_spec(sim, device_id=dc.id, poll_interval_s=poll_interval_s, where=where)
    else:
        raw: dict[str, Any] = {"model": dc.model, "device_id": dc.id, "poll_interval_s": poll_interval_s,
                               "worker": dc.id, "host": dc.host}
        if dc.port:
            raw["port"] = dc.port
        if dc.serial_port:
            raw["serial_port"] = dc.serial_port
        spec = DeviceSpec.from_mapping(raw, where=where)
    return create_device(spec, fanout=fanout, clock=clock, stratum_server=stratum.server if stratum else None)


# ---- reservoir feature stream and TPF gate ------------------------------------------------------------------
class ReservoirHandle:
    """The live reservoir feature stream, if reservoir/ provides one."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def report(self) -> dict[str, Any]:
        for name in ("report", "state", "stats"):
            fn = getattr(self.stream, name, None)
            if callable(fn):
                data = fn()
                return dict(data) if isinstance(data, dict) else {"value": data}
        return {}

    async def run(self) -> None:
        await _maybe_await(self.stream.run())

    async def stop(self) -> None:
        fn = getattr(self.stream, "stop", None)
        if callable(fn):
            await _maybe_await(fn())


def make_reservoir(cfg: ReservoirConfig, fanout: FanOut, clock: Clock, record_dir: str | None) -> ReservoirHandle:
    mod = _import("asicrc.reservoir.stream", "reservoir feature stream")
    cls = getattr(mod, "FeatureStream", None)
    if cls is None:
        raise PieceMissing("reservoir feature stream not available (no FeatureStream in asicrc.reservoir.stream)")
    stream = cls(**_kwargs_for(cls, {"fanout": fanout, "clock": clock, "window_s": cfg.window_s,
                                     "record_dir": record_dir}))
    return ReservoirHandle(stream)


def make_tpf_gate() -> Any:
    mod = _import("asicrc.reservoir.tpf", "TPF gate")
    return mod.TpfGate()
