"""Controls for the HA discovery checker (tests/daemon/ha_schema.py): it must reject what HA rejects or ignores,
and accept what the daemon builds, or the end-to-end discovery test proves nothing."""

from __future__ import annotations

import json

import pytest
from ha_schema import SchemaError, availability, check_device_config

from asicrc.daemon.discovery import SENSOR_KEYS, device_config, entity_slug
from asicrc.daemon.topics import Topics

TOPICS = Topics("asicrc", "Rig-01")


def _built(keys=SENSOR_KEYS) -> tuple[str, dict]:
    topic, payload = device_config("homeassistant", TOPICS, "s9-A", "s9", keys)
    return topic, json.loads(payload)


def test_the_daemons_config_passes() -> None:
    topic, cfg = _built()
    check_device_config(topic, json.dumps(cfg).encode())
    ids = [c["default_entity_id"] for c in cfg["components"].values()]
    assert all(i.startswith("sensor.asicrc_rig_01_s9_a_") for i in ids) and len(set(ids)) == len(ids)
    assert entity_slug("Rig--01_") == "rig_01"


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["components"]["power_w"].__setitem__("object_id", "x"), "object_id"),
    (lambda c: c.pop("origin"), "origin"),
    (lambda c: c["origin"].pop("name"), "origin.name"),
    (lambda c: c.pop("device"), "device"),
    (lambda c: c["device"].pop("identifiers"), "identifiers"),
    (lambda c: c["components"]["power_w"].pop("unique_id"), "unique_id"),
    (lambda c: c["components"]["power_w"].pop("platform"), "platform"),
    (lambda c: c.pop("state_topic"), "state_topic"),
    (lambda c: c["components"]["power_w"].__setitem__("unit_of_measurement", "kWh"), "unit_of_measurement"),
    (lambda c: c["components"]["temp_chip_c"].__setitem__("unit_of_measurement", "C"), "unit_of_measurement"),
    (lambda c: c["components"]["fan_rpm"].__setitem__("state_class", "measurment"), "state_class"),
    (lambda c: c["components"]["fan_rpm"].__setitem__("default_entity_id", "sensor.Fan-1"), "default_entity_id"),
    (lambda c: c["components"]["fan_rpm"].__setitem__("value_template", "{{ value_json.fan_rpm "), "template"),
    (lambda c: c["components"]["fan_rpm"].__setitem__("unit_of_measurment", "rpm"), "unit_of_measurment"),
    (lambda c: c["components"]["fan_rpm"].__setitem__("suggested_display_precision", "0"), "expected"),
    (lambda c: c["availability"][0].pop("topic"), "topic"),
    (lambda c: c.__setitem__("state_topic", "asicrc/+/state"), "state_topic"),
])
def test_broken_configs_are_rejected(mutate, message) -> None:
    topic, cfg = _built()
    mutate(cfg)
    with pytest.raises(SchemaError, match=message):
        check_device_config(topic, json.dumps(cfg).encode())


def test_wrong_topic_shape_is_rejected() -> None:
    _, cfg = _built()
    with pytest.raises(SchemaError):
        check_device_config("homeassistant/sensor/asicrc_x/config", json.dumps(cfg).encode())


def test_availability_follows_node_and_device() -> None:
    _, cfg = _built()
    state = TOPICS.device_state("s9-A")
    assert availability(cfg, {TOPICS.status: "online", state: {"available": True}})
    assert not availability(cfg, {TOPICS.status: "online", state: {"available": False}})
    assert not availability(cfg, {TOPICS.status: "offline", state: {"available": True}})
    assert not availability(cfg, {TOPICS.status: "online"})  # no state yet
