"""Home Assistant MQTT discovery: retained config messages for each device's main sensors.

Topics: ``<prefix>/sensor/asicrc_<node>_<device>/<object>/config``. Values come from the retained device state
topic through ``value_template``; availability follows the node's status topic (birth/last will).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .metrics import VERSION
from .topics import Topics


@dataclass(frozen=True, slots=True)
class Sensor:
    object_id: str
    name: str
    key: str  # key in the device state JSON
    unit: str | None
    device_class: str | None
    state_class: str = "measurement"


SENSORS = (
    Sensor("hashrate", "Hashrate", "hashrate_hs", "H/s", None),
    Sensor("share_hashrate", "Hashrate from shares", "share_hashrate_hs", "H/s", None),
    Sensor("chip_temp", "Chip temperature", "temp_chip_c", "°C", "temperature"),
    Sensor("board_temp", "Board temperature", "temp_board_c", "°C", "temperature"),
    Sensor("power", "Power", "power_w", "W", "power"),
    Sensor("fan", "Fan speed", "fan_rpm", "rpm", None),
    Sensor("frequency", "Chip frequency", "frequency_hz", "Hz", "frequency"),
    Sensor("shares_accepted", "Accepted shares", "shares_accepted", None, None, "total_increasing"),
)


def discovery_messages(prefix: str, topics: Topics, device_id: str, model: str) -> list[tuple[str, bytes]]:
    """(topic, retained payload) pairs announcing one device's sensors."""
    node_obj = f"asicrc_{topics.node}_{device_id}"
    dev_block = {
        "identifiers": [node_obj],
        "name": f"{device_id} ({topics.node})",
        "manufacturer": "asicrc",
        "model": model,
        "sw_version": VERSION,
    }
    out = []
    for s in SENSORS:
        cfg: dict[str, Any] = {
            "name": s.name,
            "unique_id": f"{node_obj}_{s.object_id}",
            "object_id": f"{node_obj}_{s.object_id}",
            "state_topic": topics.device_state(device_id),
            "value_template": f"{{{{ value_json.{s.key} }}}}",
            "availability_topic": topics.status,
            "payload_available": "online",
            "payload_not_available": "offline",
            "state_class": s.state_class,
            "device": dev_block,
            "origin": {"name": "asicrc", "sw_version": VERSION},
        }
        if s.unit:
            cfg["unit_of_measurement"] = s.unit
        if s.device_class:
            cfg["device_class"] = s.device_class
        out.append((f"{prefix}/sensor/{node_obj}/{s.object_id}/config", json.dumps(cfg).encode()))
    return out


def removal_messages(prefix: str, topics: Topics, device_id: str) -> list[tuple[str, bytes]]:
    """Empty retained payloads: HA deletes the entities of a device removed from the config."""
    node_obj = f"asicrc_{topics.node}_{device_id}"
    return [(f"{prefix}/sensor/{node_obj}/{s.object_id}/config", b"") for s in SENSORS]
