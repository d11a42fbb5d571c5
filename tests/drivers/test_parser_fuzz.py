"""Property tests: whatever JSON-shaped (or byte) garbage a device sends, parsers either return telemetry or raise
the documented ApiError subclasses, never a KeyError/TypeError/IndexError."""

from __future__ import annotations

import copy
import json
from typing import Any

from drivers_fakes import LB_DEVS, S9_SUMMARY, S9_VERSION, axeos_info, s9_stats
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asicrc.drivers.api import ApiError
from asicrc.drivers.api.axeos import parse_asic, parse_info
from asicrc.drivers.api.cgminer import parse_devs, parse_pools, parse_stats, parse_summary, parse_version
from asicrc.drivers.api.goldshell import parse_settings, parse_status
from asicrc.drivers.api.rpc4028 import decode_reply

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
PARSERS = [parse_stats, parse_summary, parse_version, parse_devs, parse_pools, parse_info, parse_asic,
           parse_status, parse_settings]
SAMPLES: list[Any] = [s9_stats(), S9_SUMMARY, S9_VERSION, LB_DEVS, axeos_info()]


def survives(parser: Any, reply: Any) -> None:
    try:
        parser(reply)
    except ApiError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_parsers_on_arbitrary_json(value: Any) -> None:
    for parser in PARSERS:
        survives(parser, value)


@settings(max_examples=300, deadline=None)
@given(sample=st.sampled_from(range(len(SAMPLES))), path_seed=st.integers(0, 10_000), value=json_values)
def test_parsers_on_real_shapes_with_one_field_corrupted(sample: int, path_seed: int, value: Any) -> None:
    reply = copy.deepcopy(SAMPLES[sample])
    # walk to a random leaf container and overwrite (or delete) one of its keys
    node: Any = reply
    seed = path_seed
    while True:
        if isinstance(node, dict) and node:
            key = sorted(node)[seed % len(node)]
            child = node[key]
            if isinstance(child, (dict, list)) and child and seed % 3:
                node, seed = child, seed // 3
                continue
            if seed % 5 == 0:
                del node[key]
            else:
                node[key] = value
            break
        if isinstance(node, list) and node:
            node, seed = node[seed % len(node)], seed // 2
            continue
        break
    for parser in PARSERS:
        survives(parser, reply)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=300) | st.sampled_from([json.dumps(s).encode() + b"\0" for s in SAMPLES]).map(
    lambda b: b[: len(b) // 2]))
def test_rpc_decode_on_arbitrary_bytes(raw: bytes) -> None:
    try:
        decode_reply(raw, "stats")
    except ApiError:
        pass
