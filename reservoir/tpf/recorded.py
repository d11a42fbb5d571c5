"""Event streams from recordings (asicrc.reservoir.recording run files) for the telemetry variant.

A recording stores its events as columns (asicrc.reservoir.eventcols); this turns the share and telemetry rows
back into `Event`s with their numeric data keys, so the same windowing runs on recorded or simulated devices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.events import Event, Kind

KINDS = (str(Kind.SHARE), str(Kind.TELEMETRY))


def events_from_columns(cols: Mapping[str, npt.NDArray[Any]], device: str = "recorded") -> list[Event]:
    for key in ("t_ns", "kind", "source"):
        if key not in cols:
            raise ValueError(f"event columns lack {key!r}")
    numeric = {k: v for k, v in cols.items() if k not in ("t_ns", "kind", "source") and v.dtype.kind == "f"}
    out: list[Event] = []
    for i in np.flatnonzero(np.isin(cols["kind"].astype(str), KINDS)):
        data = {k: float(v[i]) for k, v in numeric.items() if not math.isnan(float(v[i]))}
        out.append(Event(int(cols["t_ns"][i]), device, str(cols["source"][i]), str(cols["kind"][i]), data))
    return out


def load_recorded_events(spec: str | Path) -> list[Event]:
    """`DIR/NAME` of a run file (DIR/NAME.npz + DIR/NAME.json) -> its share and telemetry events."""
    from asicrc.reservoir.recording import load_run

    path = Path(spec)
    name = path.name[:-4] if path.name.endswith(".npz") else path.name
    run = load_run(path.parent, name)
    events = events_from_columns(run.events, device=str(run.meta.get("device", name)))
    if not events:
        raise ValueError(f"recording {spec} has no share or telemetry events")
    return events
