"""Collector pauses are counted and timed (unit level), and the real daemon's `status` shows them with its heap
frozen (gcpolicy.py: the start-up heap leaves the collector's view, so a full collection scans little)."""

from __future__ import annotations

import gc

from daemon_harness import DaemonProc, collect, module_broker, mqtt_client, running_daemon  # noqa: F401

from asicrc.daemon.client import request
from asicrc.daemon.config import MqttConfig
from asicrc.daemon.gcpause import GcPauses


def test_pauses_are_counted_and_timed() -> None:
    pauses = GcPauses()
    pauses.install()
    try:
        gc.collect()
        gc.collect(0)
    finally:
        pauses.uninstall()
    gc.collect()  # control: not counted once uninstalled
    stats = pauses.stats()
    assert stats["collections"] == 2 and stats["full_collections"] == 1
    assert 0 < stats["pause_max_s"] <= stats["pause_total_s"]


async def test_daemon_status_reports_a_frozen_heap(running_daemon: DaemonProc) -> None:  # noqa: F811
    async with mqtt_client(running_daemon.broker) as c:  # READY comes before MQTT: wait until it is connected
        topic = f"asicrc/{running_daemon.node}/status"
        await c.subscribe(topic, qos=1)
        await collect(c, lambda seen: seen.get(topic) == "online", 15)
    reply = await request(MqttConfig(host="127.0.0.1", port=running_daemon.broker.port), running_daemon.node,
                          "status", {}, 10)
    gcs = reply["data"]["gc"]
    assert gcs["full_collections"] >= 1 and gcs["pause_max_s"] > 0  # at least the one before freezing
