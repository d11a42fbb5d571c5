"""The one strict-JSON encoder (drivers/strictjson.py) of MQTT payloads, reports and enrolments: non-finite numbers
become null wherever they sit (the planted NaN/inf must all go), finite values and structure survive unchanged."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from asicrc.drivers import strictjson


def _no_constants(name: str) -> float:
    raise AssertionError(f"non-JSON constant {name} in the output")


def strict_loads(text: str) -> object:
    return json.loads(text, parse_constant=_no_constants)


@dataclass
class Point:
    x: float
    tags: tuple[str, ...]


def test_planted_non_finite_values_become_null_everywhere() -> None:
    nan, inf = float("nan"), float("inf")
    obj = {"a": nan, "b": [1.0, -inf, {"c": np.float64(inf)}], 3: np.array([1.5, np.nan]),
           "d": (np.float32("nan"),), "e": Point(x=nan, tags=("t",))}
    out = strict_loads(strictjson.dumps(obj, sort_keys=True))
    assert out == {"3": [1.5, None], "a": None, "b": [1.0, None, {"c": None}], "d": [None],
                   "e": {"tags": ["t"], "x": None}}
    with pytest.raises(ValueError):  # the control: plain json writes NaN, which strict parsing refuses
        json.dumps({"a": nan}, allow_nan=False)
    with pytest.raises(AssertionError, match="NaN"):
        strict_loads(json.dumps({"a": nan}))


def test_finite_values_and_types_survive() -> None:
    obj = {"i": 3, "f": 0.1, "big": 2.0**70, "t": True, "n": None, "s": "x",
           "np": [np.int64(7), np.float64(2.5), np.bool_(False)], "set": {4}}
    out = strict_loads(strictjson.dumps(obj))
    assert out == {"i": 3, "f": 0.1, "big": 2.0**70, "t": True, "n": None, "s": "x", "np": [7, 2.5, False],
                   "set": [4]}
    assert type(out["np"][0]) is int and type(out["np"][2]) is bool  # type: ignore[index]
    assert strictjson.jsonable(math.pi) == math.pi


def test_other_objects_are_written_as_text() -> None:
    assert strict_loads(strictjson.dumps({"p": object.__new__(type("Opaque", (), {"__str__": lambda s: "opaque"}))})) \
        == {"p": "opaque"}
