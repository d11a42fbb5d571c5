"""What a reservoir backend is: it turns an input sequence into a recorded run (`Backend.drive`), with the options
every backend takes. The backends themselves: `backends.py` (the registry and the ESN reference) and
`device_backend.py` (simulated devices through the same code path as real ones)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from asicrc.drivers.registry import simulated_models

from .encoding import EncoderConfig
from .esn import EsnConfig
from .recording import RunRecord

F64 = npt.NDArray[np.float64]
ProgressFn = Callable[[int], None]
# models a `sim:<model>` backend drives: the registry's simulated miners on a Bitcoin pool (the device backend's
# rig runs a Bitcoin pool; the LB-Box mines LBRY)
SIM_MODELS: tuple[str, ...] = simulated_models(pool="bitcoin")


@dataclass(frozen=True, slots=True)
class BackendOptions:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    step_s: float = 1.0  # simulated seconds per step
    clock_speed: float = 15.0  # simulated seconds per wall second (wall-clock runs only)
    # sim backends on virtual time (asicrc.drivers.vtime): as fast as the CPU allows, and the same seed replays
    # the same run; False: on the wall clock at clock_speed (what the equivalence test compares against)
    virtual_time: bool = True
    workers: int = 0  # virtual-time runs: worker processes (0: one per CPU core; 1: in this process)
    parallel: int = 5  # runs driven at once (each device backend run has its own server, device and ports)
    # sim backends: simulated seconds per physics tick (None: the device backend's default, 0.1 s). Long steps
    # can take a coarser tick (the thermal network is integrated in <= 0.25 s sub-steps whatever the tick)
    physics_tick_s: float | None = None
    esn: EsnConfig = field(default_factory=EsnConfig)


class Backend(Protocol):
    name: str

    async def drive(self, u: F64, target: F64, mode: str, seed: int,
                    progress: ProgressFn | None = None) -> RunRecord:
        """Run the device on u (mode monologue/dialogue/constant) and return the recorded run."""
        ...
