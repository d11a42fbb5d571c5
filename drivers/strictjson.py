"""Strict JSON: what every asicrc report, state file and MQTT payload is written as, so any consumer can parse it.

JSON has no NaN or Infinity (Python's json writes them anyway unless told not to): non-finite numbers become
null, where a report means "undefined" (a CI from one seed, a p-value with no evidence yet). numpy scalars and
arrays become plain numbers and lists (cleaned the same way), dataclasses become objects, sets and tuples lists,
mapping keys strings; anything else is written as its str(). One encoder for the daemon's MQTT payloads, the
reservoir and TPF reports and the PUF enrolments.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

_PLAIN = frozenset({str, int, bool, type(None)})


def jsonable(obj: Any) -> Any:
    """`obj` as plain JSON values (dict, list, str, int, float, bool, None), non-finite floats as None."""
    t = type(obj)  # exact-type fast paths first: MQTT payloads are encoded per request
    if t in _PLAIN:
        return obj
    if t is float:
        return obj if math.isfinite(obj) else None
    if t is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [jsonable(v) for v in obj]
    return _other(obj)


def _other(obj: Any) -> Any:
    if isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    return str(obj)


def dumps(obj: Any, **kwargs: Any) -> str:
    """`json.dumps` of `jsonable(obj)`; never writes NaN/Infinity (allow_nan=False would catch a slip)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kwargs)
