"""Events as columns: the one representation that recording, replay and feature extraction share.

``events_to_columns`` turns a list of ``asicrc.drivers.events.Event`` into a dict of equal-length numpy arrays:
  t_ns (int64), kind (str), source (str), and one column per data key seen:
  numbers -> float64 (NaN where an event lacks the key), lists of numbers (per-chain values) -> their mean,
  strings -> str ('' where absent), None -> NaN. Booleans become 0/1.
The column names are the Event data keys (SI units in the name), so a recording is readable without this code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.events import Event

Columns = dict[str, npt.NDArray[Any]]
BASE_COLUMNS = ("t_ns", "kind", "source")


def _numeric(value: Any) -> float | None:
    if value is None:
        return float("nan")
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        return float(np.mean(value)) if value else float("nan")
    return None


def events_to_columns(events: Iterable[Event]) -> Columns:
    evs = sorted(events, key=lambda e: e.t_ns)
    n = len(evs)
    cols: Columns = {
        "t_ns": np.fromiter((e.t_ns for e in evs), dtype=np.int64, count=n),
        "kind": np.array([str(e.kind) for e in evs], dtype=str),
        "source": np.array([str(e.source) for e in evs], dtype=str),
    }
    numeric: dict[str, npt.NDArray[np.float64]] = {}
    text: dict[str, list[str]] = {}
    for i, e in enumerate(evs):
        for key, value in e.data.items():
            if key in BASE_COLUMNS:
                continue
            num = _numeric(value)
            if num is not None and key not in text:
                if key not in numeric:
                    numeric[key] = np.full(n, np.nan)
                numeric[key][i] = num
            else:
                if key not in text:
                    text[key] = [""] * n
                    if key in numeric:  # key held numbers so far: keep them as text
                        for j, v in enumerate(numeric.pop(key)):
                            text[key][j] = "" if np.isnan(v) else repr(v)
                text[key][i] = str(value)
    cols.update(numeric)
    cols.update({k: np.array(v, dtype=str) for k, v in text.items()})
    return cols


def empty_columns() -> Columns:
    return events_to_columns([])


def validate_columns(cols: Mapping[str, npt.NDArray[Any]]) -> None:
    missing = [c for c in BASE_COLUMNS if c not in cols]
    if missing:
        raise ValueError(f"event columns lack {missing}")
    n = len(cols["t_ns"])
    bad = [k for k, v in cols.items() if len(v) != n]
    if bad:
        raise ValueError(f"event columns {bad} do not have {n} rows like t_ns")
