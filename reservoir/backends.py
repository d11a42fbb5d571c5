"""Backends turn an input sequence into a recorded run: name -> factory, so devices plug in without the CLI
knowing them. ``esn`` is the software reference; ``sim:<model>`` drives a simulated device (device_backend)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .backend_api import F64, SIM_MODELS, Backend, BackendOptions, ProgressFn
from .encoding import U_CONST
from .esn import esn_states
from .recording import RunRecord


class EsnBackend:
    """A software ESN standing in for a device: its states are the features; the constant run feeds u_const."""

    name = "esn"

    def __init__(self, options: BackendOptions) -> None:
        self.cfg = options.esn
        self.u_const = options.encoder.u_const

    async def drive(self, u: F64, target: F64, mode: str, seed: int,
                    progress: ProgressFn | None = None) -> RunRecord:
        if mode not in ("monologue", "constant"):
            raise ValueError(f"the esn backend supports modes monologue and constant, not {mode!r}")
        drive_u = np.full(len(u), self.u_const) if mode == "constant" else np.asarray(u, dtype=float)
        X = esn_states(drive_u, self.cfg, seed)  # same weights for the drive and constant runs of one seed
        if progress is not None:
            progress(len(u))
        return RunRecord(
            u=np.asarray(u, dtype=float), target=np.asarray(target, dtype=float), features=X,
            feature_names=[f"x{i}" for i in range(X.shape[1])],
            meta={"backend": self.name, "device": "esn", "firmware": "software", "mode": mode, "seed": seed,
                  "feature_source": "states", "esn": self.cfg.as_dict(), "u_const": self.u_const},
        )


def _sim_factory(model: str) -> Callable[[BackendOptions], Backend]:
    def make(options: BackendOptions) -> Backend:
        from .device_backend import SimDeviceBackend  # imports the simulator only when asked for

        return SimDeviceBackend(model, options)

    return make


BACKENDS: dict[str, Callable[[BackendOptions], Backend]] = {
    "esn": EsnBackend,
    **{f"sim:{model}": _sim_factory(model) for model in SIM_MODELS},
}


def make_backend(name: str, options: BackendOptions) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
    return BACKENDS[name](options)


__all__ = ["BACKENDS", "U_CONST", "Backend", "BackendOptions", "EsnBackend", "ProgressFn", "make_backend"]
