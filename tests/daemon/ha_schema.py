"""Home Assistant's documented MQTT discovery schema, as a checker for the configs the daemon publishes.

Transcribed from HA's docs and its MQTT schemas (device-based discovery: ``device``, ``origin`` and ``components``
required; each component needs ``platform`` and, in device discovery, ``unique_id``; the sensor platform's keys and
types; ``default_entity_id`` replaces ``object_id``, which HA ignores from Core 2026.4). Stricter than HA in one way
on purpose: an unknown key is an error (HA ignores it silently, which hides typos).

Templates are rendered with Jinja2 the way HA renders them (``value_json`` = the parsed state payload).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jinja2

ENTITY_ID_RE = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")  # HA valid_entity_id
TOPIC_BAD = re.compile(r"[#+\x00]")
STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# device_class -> the units HA's sensor platform accepts for it (subset: the classes asicrc uses or might)
DEVICE_CLASS_UNITS: dict[str, set[str]] = {
    "temperature": {"°C", "°F", "K"},
    "power": {"mW", "W", "kW", "MW", "GW", "TW", "BTU/h"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "voltage": {"µV", "mV", "V", "kV", "MV"},
    "current": {"µA", "mA", "A"},
    "energy": {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"},
}

DEVICE_KEYS = {"identifiers": list, "connections": list, "manufacturer": str, "model": str, "model_id": str,
               "name": str, "hw_version": str, "serial_number": str, "sw_version": str, "via_device": str,
               "suggested_area": str, "configuration_url": str}
ORIGIN_KEYS = {"name": str, "sw_version": str, "support_url": str}
AVAILABILITY_ITEM_KEYS = {"topic": str, "payload_available": str, "payload_not_available": str,
                          "value_template": str}
SHARED_KEYS = {"availability": list, "availability_mode": str, "availability_template": str,
               "availability_topic": str, "payload_available": str, "payload_not_available": str,
               "state_topic": str, "command_topic": str}
DEVICE_DISCOVERY_KEYS = {**SHARED_KEYS, "device": dict, "origin": dict, "components": dict, "qos": int,
                         "encoding": str}
SENSOR_KEYS = {**SHARED_KEYS, "platform": str, "name": (str, type(None)), "unique_id": str,
               "default_entity_id": str, "value_template": str, "unit_of_measurement": str, "device_class": str,
               "state_class": str, "suggested_display_precision": int, "expire_after": int, "force_update": bool,
               "icon": str, "entity_category": str, "enabled_by_default": bool, "json_attributes_topic": str,
               "json_attributes_template": str, "last_reset_value_template": str, "options": list, "qos": int,
               "encoding": str, "entity_picture": str}


class SchemaError(ValueError):
    pass


def _keys(obj: Mapping[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    for key, value in obj.items():
        if key == "object_id":
            raise SchemaError(f"{where}.object_id: removed from HA (Core 2026.4); use default_entity_id")
        if key not in allowed:
            raise SchemaError(f"{where}.{key}: not a key HA documents here")
        want = allowed[key]
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise SchemaError(f"{where}.{key}: expected {want}, got {type(value).__name__}")


def _topic(value: str, where: str) -> None:
    if not value or TOPIC_BAD.search(value):
        raise SchemaError(f"{where}: {value!r} is not a valid topic")


def _template(text: str, where: str) -> jinja2.Template:
    try:
        return jinja2.Environment().from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise SchemaError(f"{where}: template does not parse: {exc}") from None


def _availability(cfg: Mapping[str, Any], where: str) -> None:
    if "availability" in cfg and "availability_topic" in cfg:
        raise SchemaError(f"{where}: availability and availability_topic are exclusive")
    if cfg.get("availability_mode", "latest") not in ("all", "any", "latest"):
        raise SchemaError(f"{where}.availability_mode: {cfg['availability_mode']!r}")
    for i, item in enumerate(cfg.get("availability", [])):
        w = f"{where}.availability[{i}]"
        if not isinstance(item, dict):
            raise SchemaError(f"{w}: expected an object")
        _keys(item, AVAILABILITY_ITEM_KEYS, w)
        if "topic" not in item:
            raise SchemaError(f"{w}.topic: required")
        _topic(item["topic"], f"{w}.topic")
        if "value_template" in item:
            _template(item["value_template"], f"{w}.value_template")


def _sensor(comp: Mapping[str, Any], shared: Mapping[str, Any], where: str) -> None:
    _keys(comp, SENSOR_KEYS, where)
    if "unique_id" not in comp:
        raise SchemaError(f"{where}.unique_id: required for a component in device discovery")
    if "state_topic" not in comp and "state_topic" not in shared:
        raise SchemaError(f"{where}.state_topic: required (here or at device level)")
    if "default_entity_id" in comp:
        eid = comp["default_entity_id"]
        if not ENTITY_ID_RE.match(eid) or not eid.startswith(f"{comp['platform']}."):
            raise SchemaError(f"{where}.default_entity_id: {eid!r} is not a valid {comp['platform']} entity id")
    if "value_template" in comp:
        _template(comp["value_template"], f"{where}.value_template")
    sc = comp.get("state_class")
    if sc is not None and sc not in STATE_CLASSES:
        raise SchemaError(f"{where}.state_class: {sc!r} is not one of {sorted(STATE_CLASSES)}")
    dc = comp.get("device_class")
    if dc is not None:
        units = DEVICE_CLASS_UNITS.get(dc)
        if units is None:
            raise SchemaError(f"{where}.device_class: {dc!r} is not a sensor device class this checker knows")
        if comp.get("unit_of_measurement") not in units:
            raise SchemaError(f"{where}.unit_of_measurement: {comp.get('unit_of_measurement')!r} is not a unit of "
                              f"device_class {dc} ({sorted(units)})")
    _availability(comp, where)


def check_device_config(topic: str, payload: bytes, prefix: str = "homeassistant") -> dict[str, Any]:
    """Validate one retained device-discovery message; return the parsed config. Raises SchemaError."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != prefix or parts[1] != "device" or parts[3] != "config" \
            or not re.fullmatch(r"[A-Za-z0-9_-]+", parts[2]):
        raise SchemaError(f"{topic}: not <prefix>/device/<object_id>/config")
    try:
        cfg = json.loads(payload)
    except ValueError as exc:
        raise SchemaError(f"{topic}: payload is not JSON: {exc}") from None
    if not isinstance(cfg, dict):
        raise SchemaError(f"{topic}: payload is not a JSON object")
    _keys(cfg, DEVICE_DISCOVERY_KEYS, topic)
    for key in ("device", "origin", "components"):
        if key not in cfg:
            raise SchemaError(f"{topic}.{key}: required")
    _keys(cfg["device"], DEVICE_KEYS, f"{topic}.device")
    if not cfg["device"].get("identifiers") and not cfg["device"].get("connections"):
        raise SchemaError(f"{topic}.device: needs identifiers or connections")
    _keys(cfg["origin"], ORIGIN_KEYS, f"{topic}.origin")
    if "name" not in cfg["origin"]:
        raise SchemaError(f"{topic}.origin.name: required")
    if "state_topic" in cfg:
        _topic(cfg["state_topic"], f"{topic}.state_topic")
    if cfg.get("qos", 0) not in (0, 1, 2):
        raise SchemaError(f"{topic}.qos: {cfg['qos']!r}")
    _availability(cfg, topic)
    if not cfg["components"]:
        raise SchemaError(f"{topic}.components: empty")
    unique_ids = set()
    for cid, comp in cfg["components"].items():
        where = f"{topic}.components.{cid}"
        if not isinstance(comp, dict) or "platform" not in comp:
            raise SchemaError(f"{where}.platform: required")
        if comp["platform"] != "sensor":
            raise SchemaError(f"{where}.platform: only sensor is checked here, got {comp['platform']!r}")
        _sensor(comp, cfg, where)
        if comp["unique_id"] in unique_ids:
            raise SchemaError(f"{where}.unique_id: duplicate {comp['unique_id']!r}")
        unique_ids.add(comp["unique_id"])
    return cfg


def render(template: str, state: Mapping[str, Any]) -> str:
    """A value_template rendered as HA renders it against a JSON state payload."""
    return jinja2.Environment().from_string(template).render(value_json=state).strip()


def availability(cfg: Mapping[str, Any], messages: Mapping[str, Any]) -> bool:
    """Whether HA would show the entities as available, given the last retained payload of each topic
    (str for plain payloads, dict for JSON ones)."""
    items = cfg.get("availability") or [{"topic": cfg["availability_topic"]}]
    results = []
    for item in items:
        raw = messages.get(item["topic"])
        if raw is None:
            results.append(False)
            continue
        value = render(item["value_template"], raw) if "value_template" in item else str(raw)
        results.append(value == item.get("payload_available", "online"))
    mode = cfg.get("availability_mode", "latest")
    return all(results) if mode == "all" else any(results) if mode == "any" else results[-1]
