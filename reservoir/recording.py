"""Run recordings: one ``.npz`` (columns) plus one ``.json`` (metadata) per run; the source of truth for reports.

A run file ``<name>.npz`` holds:
  u (T,) float64            input fed to the device (after any constant-mode substitution: the recorded drive)
  target (T,) float64       NARMA-10 target y(t+1) aligned with u
  bounds_ns (T·V+1,) int64  sub-window boundaries on the experiment Clock (empty for software backends)
  features (T, F) float64   the state the readout saw (recomputed from events on replay when events exist)
  feature_names (F,) str
  commanded (T,) or (T, V) float64  actuation encodings: the knob value (MHz / mV) the host actually commanded for
                            each step (or each of its V sub-windows) after slew limiting and envelope clipping, i.e.
                            what physically reached the device; empty (shape (0,)) for encodings without a knob.
                            The `commanded20` control reads it, so host-side memory is never credited to the device.
  ev__<column>              event columns (see asicrc.reservoir.eventcols): ev__t_ns, ev__kind, ev__source,
                            ev__achieved_diff, ev__nonce, ev__temp_chip_c, ...
``<name>.json`` holds the metadata: device, firmware, backend, mode, encoding settings, seed, clock speed,
virtual nodes, feature source ("events" or "states"), fan-out drops, and package versions.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.atomicfile import atomic_path, atomic_write_json

from .eventcols import Columns, empty_columns, validate_columns

F64 = npt.NDArray[np.float64]
EV_PREFIX = "ev__"


@dataclass(slots=True)
class RunRecord:
    u: F64
    target: F64
    features: F64
    feature_names: list[str]
    bounds_ns: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    events: Columns = field(default_factory=empty_columns)
    meta: dict[str, Any] = field(default_factory=dict)
    commanded: F64 = field(default_factory=lambda: np.zeros(0))  # see the module docstring; (0,) when no knob

    def __post_init__(self) -> None:
        T = len(self.u)
        if len(self.target) != T or len(self.features) != T:
            raise ValueError(f"run arrays disagree: u {T}, target {len(self.target)}, features {len(self.features)}")
        if self.features.ndim != 2 or self.features.shape[1] != len(self.feature_names):
            raise ValueError("features must be (T, F) with one name per column")
        validate_columns(self.events)
        c = np.asarray(self.commanded, dtype=float)
        if c.size and (c.ndim not in (1, 2) or len(c) != T or not np.all(np.isfinite(c))):
            raise ValueError(f"commanded series must be finite with shape (T,) or (T, V), T = {T}; got {c.shape}")
        self.commanded = c


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("asicrc", "numpy", "scipy", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def save_run(directory: Path, name: str, run: RunRecord) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "u": run.u, "target": run.target, "bounds_ns": run.bounds_ns, "features": run.features,
        "feature_names": np.array(run.feature_names, dtype=str), "commanded": run.commanded,
    }
    arrays.update({EV_PREFIX + k: v for k, v in run.events.items()})
    path = directory / f"{name}.npz"
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    meta = dict(run.meta)
    meta.setdefault("versions", versions())
    atomic_write_json(directory / f"{name}.json", meta, indent=2, sort_keys=True, default=str)
    return path


def load_run(directory: Path, name: str) -> RunRecord:
    path = directory / f"{name}.npz"
    if not path.exists():
        raise ValueError(f"recording {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            events = {k[len(EV_PREFIX):]: z[k] for k in z.files if k.startswith(EV_PREFIX)}
            meta_path = directory / f"{name}.json"
            meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
            return RunRecord(u=z["u"], target=z["target"], features=z["features"],
                             feature_names=[str(s) for s in z["feature_names"]], bounds_ns=z["bounds_ns"],
                             events=events or empty_columns(), meta=meta,
                             commanded=z["commanded"] if "commanded" in z.files else np.zeros(0))
    except (KeyError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"recording {path} is not a valid run file: {exc}") from exc
