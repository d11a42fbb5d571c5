"""Home Assistant MQTT discovery, device-based: one retained config per device with its sensors as components.

Topic: ``<prefix>/device/asicrc_<node>_<device>/config`` (HA 2024.11+ "device discovery"). Each component carries
``platform``, ``unique_id`` and ``default_entity_id`` (the successor of ``object_id``, which HA ignores from Core
2026.4). Values come from the retained device state topic through ``value_template``.

Only sensors whose value the device really reports get an entity: the announcement lists the headline keys that
are non-null in the device's state payload (a stock S9 or a Goldshell reports no power, so it gets no Power entity),
and it is re-sent when a key appears for the first time.

Availability is per device, with ``availability_mode: all``: the node's status topic (the daemon's birth and last
will) *and* the device's own ``available`` flag in its state payload, so a dead device is ``unavailable`` in HA,
not a frozen last value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .metrics import VERSION
from .topics import Topics


@dataclass(frozen=True, slots=True)
class Sensor:
    key: str  # key in the device state JSON; also the component id inside the device config
    name: str
    unit: str | None
    device_class: str | None
    state_class: str = "measurement"
    precision: int | None = None


# Units as HA's sensor platform expects them for each device_class (°C for temperature, W for power, Hz for
# frequency); hashrate and fan speed have no HA device class, so they carry a free unit only.
SENSORS = (
    Sensor("hashrate_hs", "Hashrate", "H/s", None, precision=0),
    Sensor("share_hashrate_hs", "Hashrate from shares", "H/s", None, precision=0),
    Sensor("temp_chip_c", "Chip temperature", "°C", "temperature", precision=1),
    Sensor("temp_board_c", "Board temperature", "°C", "temperature", precision=1),
    Sensor("power_w", "Power", "W", "power", precision=1),
    Sensor("fan_rpm", "Fan speed", "rpm", None, precision=0),
    Sensor("frequency_hz", "Chip frequency", "Hz", "frequency", precision=0),
    Sensor("shares_accepted", "Accepted shares", None, None, "total_increasing"),
)
SENSOR_KEYS = frozenset(s.key for s in SENSORS)
AVAILABLE_KEY = "available"  # the device state payload's liveness flag


def entity_slug(text: str) -> str:
    """HA entity ids are lowercase ``[a-z0-9_]``; node and device ids may also hold ``-`` and capitals."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "_", text.lower())).strip("_") or "asicrc"


def discovery_id(topics: Topics, device_id: str) -> str:
    return f"asicrc_{topics.node}_{device_id}"


def config_topic(prefix: str, topics: Topics, device_id: str) -> str:
    return f"{prefix}/device/{discovery_id(topics, device_id)}/config"


def reported_keys(state: Mapping[str, Any]) -> frozenset[str]:
    """The headline sensor keys a device state payload really carries (non-null)."""
    return frozenset(k for k in SENSOR_KEYS if state.get(k) is not None) | {"shares_accepted"}


def device_config(prefix: str, topics: Topics, device_id: str, model: str,
                  keys: Iterable[str]) -> tuple[str, bytes]:
    """(topic, retained payload) announcing one device with a sensor for each key in `keys`."""
    ident = discovery_id(topics, device_id)
    slug = entity_slug(ident)
    wanted = set(keys)
    components: dict[str, dict[str, Any]] = {}
    for s in SENSORS:
        if s.key not in wanted:
            continue
        comp: dict[str, Any] = {
            "platform": "sensor",
            "name": s.name,
            "unique_id": f"{ident}_{s.key}",
            "default_entity_id": f"sensor.{slug}_{entity_slug(s.key)}",
            "value_template": f"{{{{ value_json.{s.key} }}}}",
            "state_class": s.state_class,
        }
        if s.unit:
            comp["unit_of_measurement"] = s.unit
        if s.device_class:
            comp["device_class"] = s.device_class
        if s.precision is not None:
            comp["suggested_display_precision"] = s.precision
        components[s.key] = comp
    cfg: dict[str, Any] = {
        "device": {
            "identifiers": [ident],
            "name": f"{device_id} ({topics.node})",
            "manufacturer": "asicrc",
            "model": model,
            "sw_version": VERSION,
        },
        "origin": {"name": "asicrc", "sw_version": VERSION},
        "components": components,
        "state_topic": topics.device_state(device_id),
        "availability_mode": "all",
        "availability": [
            {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"},
            {"topic": topics.device_state(device_id),
             "value_template": f"{{{{ 'online' if value_json.{AVAILABLE_KEY} else 'offline' }}}}",
             "payload_available": "online", "payload_not_available": "offline"},
        ],
        "qos": 1,
    }
    return config_topic(prefix, topics, device_id), json.dumps(cfg).encode()


def removal_messages(prefix: str, topics: Topics, device_id: str) -> list[tuple[str, bytes]]:
    """Empty retained payloads: HA deletes the device (and its entities) removed from the config."""
    return [(config_topic(prefix, topics, device_id), b"")]


def legacy_topics(prefix: str, topics: Topics, device_id: str) -> list[str]:
    """Per-entity config topics earlier asicrc versions retained (``object_id`` schema); cleared once on connect
    so HA does not keep a second, stale copy of every entity."""
    ident = discovery_id(topics, device_id)
    old = ("hashrate", "share_hashrate", "chip_temp", "board_temp", "power", "fan", "frequency", "shares_accepted")
    return [f"{prefix}/sensor/{ident}/{o}/config" for o in old]
