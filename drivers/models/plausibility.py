"""Physical plausibility of telemetry: a reading outside what any supported miner can report is a sensor or
firmware fault, never a value.

A chip at -300 C is not cold; reading it as cold would release the thermal guard and let a heating command
through. So an implausible value is replaced by None in the telemetry (a scalar or one list element; None rather than
dropping the key, so no snapshot keeps the previous reading as if it were current), the device reports a fault naming the field, and the temperature counts as *faulty* rather than
unknown: heating increases stay refused and the thermal guard keeps its state until the sensor reads sanely.
NaN/inf never get here: the API parsers reject them as malformed replies (the poll fails, which is a fault too).

The bounds are deliberately wide (any BM13xx-class miner from an LV06 to a hydro rig fits); they catch broken
sensors and hostile replies, not unusual rooms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Bounds:
    low: float
    high: float
    unit: str


PLAUSIBLE: Mapping[str, Bounds] = {
    "temp_chip_c": Bounds(-40.0, 150.0, "C"),  # BM13xx junction limits are ~125 C; below -40 no board runs
    "temp_board_c": Bounds(-40.0, 150.0, "C"),
    "ambient_c": Bounds(-40.0, 80.0, "C"),
    "hashrate_hs": Bounds(0.0, 1e15, "H/s"),  # 1 PH/s: several times the largest single unit sold
    "chain_hashrate_hs": Bounds(0.0, 1e15, "H/s"),
    "expected_hashrate_hs": Bounds(0.0, 1e15, "H/s"),
    "power_w": Bounds(0.0, 20_000.0, "W"),
    "fan_rpm": Bounds(0.0, 30_000.0, "rpm"),
    "fan_percent": Bounds(0.0, 100.0, "%"),
    "frequency_hz": Bounds(0.0, 2e9, "Hz"),
    "core_voltage_v": Bounds(0.0, 2.5, "V"),
    "input_voltage_v": Bounds(0.0, 300.0, "V"),
    "input_current_a": Bounds(0.0, 500.0, "A"),
    "hw_errors": Bounds(0.0, math.inf, ""),
    "chains": Bounds(0.0, 64.0, ""),  # the hash-board slot numbers bmminer reports (6, 7, 8 on an S9)
    "chips": Bounds(0.0, 1024.0, ""),  # per chain (63 on an S9 board, 8 on an LB-Box)
    "chips_ok": Bounds(0.0, 1024.0, ""),
    "shares_accepted": Bounds(0.0, math.inf, ""),
    "shares_rejected": Bounds(0.0, math.inf, ""),
    "uptime_s": Bounds(0.0, math.inf, "s"),
}
TEMPERATURE_KEYS = frozenset({"temp_chip_c"})  # what the thermal guard and the envelope look at


@dataclass(frozen=True, slots=True)
class Checked:
    telemetry: dict[str, Any]  # implausible values replaced by None
    problems: tuple[str, ...]  # one "field[i] = value outside [low, high] unit" per bad value
    faulty_keys: frozenset[str]


def _bad(value: Any, b: Bounds) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False  # not a number: the parser's business, not a range question
    return not (math.isfinite(float(value)) and b.low <= value <= b.high)


def _range(b: Bounds) -> str:
    return f"outside [{b.low:g}, {b.high:g}]{' ' + b.unit if b.unit else ''}"


def check_telemetry(tel: Mapping[str, Any]) -> Checked:
    out: dict[str, Any] = {}
    problems: list[str] = []
    faulty: set[str] = set()
    for key, value in tel.items():
        b = PLAUSIBLE.get(key)
        if b is None:
            out[key] = value
            continue
        if isinstance(value, (list, tuple)):
            # every S9 poll checks a dozen per-chain lists: the common all-plausible case without a copy loop
            if not any(_bad(v, b) for v in value):
                out[key] = list(value)
                continue
            cleaned: list[Any] = []
            for i, v in enumerate(value):
                if _bad(v, b):
                    problems.append(f"{key}[{i}] = {v!r} {_range(b)}")
                    faulty.add(key)
                    cleaned.append(None)
                else:
                    cleaned.append(v)
            out[key] = cleaned
        elif _bad(value, b):
            problems.append(f"{key} = {value!r} {_range(b)}")
            faulty.add(key)
            out[key] = None
        else:
            out[key] = value
    return Checked(out, tuple(problems), frozenset(faulty))
