"""Lifecycle of the real daemon process: systemd notify/watchdog, SIGHUP reload, broker restart, SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from conftest import Broker
from daemon_harness import DaemonProc, collect, mqtt_client

from asicrc.daemon.client import request
from asicrc.daemon.config import MqttConfig

LV06_ONLY = """
[[devices]]
id = "lv06"
model = "lv06"
seed = 5
"""
LV06_PAIR = LV06_ONLY + """
[[devices]]
id = "lv06b"
model = "lv06"
seed = 6
"""


def _mq(broker: Broker) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=broker.port)


async def _wait_device_up(broker: Broker, node: str, device: str, wait_s: float = 30) -> dict[str, Any]:
    topic = f"asicrc/{node}/{device}/state"
    async with mqtt_client(broker) as c:
        await c.subscribe(f"asicrc/{node}/#")
        seen = await collect(c, lambda s: bool(s.get(topic) and s[topic]["up"]
                                               and s.get(f"asicrc/{node}/status") == "online"), wait_s)
    return seen


async def test_notify_watchdog_reload_and_stop(mosquitto: Broker, tmp_path) -> None:
    d = DaemonProc(tmp_path, mosquitto, devices=LV06_PAIR, watchdog_usec=400_000)
    try:
        d.notify.wait_for("READY=1", 30)
        await _wait_device_up(mosquitto, d.node, "lv06b")
        await asyncio.sleep(1.2)
        msgs = d.notify.drain()
        assert sum(m == "WATCHDOG=1" for m in msgs) >= 3, msgs  # every 0.2 s (half of WATCHDOG_USEC)
        # reload: drop lv06b, keep lv06 running, reject nothing
        d.write_config(devices=LV06_ONLY)
        d.signal(signal.SIGHUP)
        d.notify.wait_for("RELOADING=1", 10)
        d.notify.wait_for("READY=1", 10)
        reply = await request(_mq(mosquitto), d.node, "devices", {}, 10)
        assert [x["device"] for x in reply["data"]] == ["lv06"]
        async with mqtt_client(mosquitto) as c:  # lv06b's retained state and HA entities were cleared
            await c.subscribe(f"asicrc/{d.node}/+/state")
            await c.subscribe(f"homeassistant/device/asicrc_{d.node}_lv06b/config")
            seen = await collect(c, lambda s: f"asicrc/{d.node}/lv06/state" in s, 10)
            await asyncio.sleep(0.5)
        assert f"asicrc/{d.node}/lv06b/state" not in seen
        assert not any("lv06b" in t for t in seen)
        # a bad config on reload is rejected and the running one kept
        d.config_path.write_text(d.config_path.read_text() + "\n[bogus]\n")
        d.signal(signal.SIGHUP)
        d.notify.wait_for("RELOADING=1", 10)
        reply = await request(_mq(mosquitto), d.node, "ping", {}, 10)
        assert reply["status"] == "ok"
        assert "reload rejected, keeping the running config" in d.log() and "bogus: unknown key" in d.log()
    finally:
        rc = d.stop()
    assert rc == 0
    msgs = d.notify.seen()
    assert any(m.startswith("STOPPING=1") for m in msgs), msgs


async def test_broker_restart_then_sigterm_publishes_offline(mosquitto: Broker, tmp_path) -> None:
    d = DaemonProc(tmp_path, mosquitto, devices=LV06_ONLY + "\n[recording]\nenabled = true\n")
    try:
        d.notify.wait_for("READY=1", 30)
        await _wait_device_up(mosquitto, d.node, "lv06")
        mosquitto.restart()  # persistence is off: every retained message is gone with the old broker
        seen = await _wait_device_up(mosquitto, d.node, "lv06", wait_s=40)
        assert seen[f"asicrc/{d.node}/status"] == "online"  # birth and retained state published again
        reply = await request(_mq(mosquitto), d.node, "status", {}, 15)  # request topic subscribed again
        assert reply["status"] == "ok" and reply["data"]["mqtt"]["connected"]
        async with mqtt_client(mosquitto) as c:
            await c.subscribe(f"asicrc/{d.node}/status", qos=1)
            seen = await collect(c, lambda s: s.get(f"asicrc/{d.node}/status") == "online", 10)
            d.signal(signal.SIGTERM)
            seen = await collect(c, lambda s: s.get(f"asicrc/{d.node}/status") == "offline", 20)
        assert d.proc.wait(20) == 0
    finally:
        d.stop()
    # the retained availability says offline for anyone who looks later (not the LWT: a clean disconnect)
    async with mqtt_client(mosquitto) as c:
        await c.subscribe(f"asicrc/{d.node}/status", qos=1)
        seen = await collect(c, lambda s: f"asicrc/{d.node}/status" in s, 10)
    assert seen[f"asicrc/{d.node}/status"] == "offline"
    assert "published offline" in d.log()
    assert json.loads((d.state_dir / "identities.json").read_text())["lv06"]["model"] == "lv06"
    # SIGTERM flushed the live reservoir stream's recording into the state directory
    assert list((d.state_dir / "recordings").glob("stream-*.npz")), d.log()


async def test_narma_run_over_mqtt_reports_nrmse(mosquitto: Broker, tmp_path) -> None:
    d = DaemonProc(tmp_path, mosquitto, devices="", extra='allow_commands = ["start_narma", "stop_experiment"]')
    try:
        d.notify.wait_for("READY=1", 30)
        cfg = _mq(mosquitto)
        bad = await request(cfg, d.node, "start_narma", {"steps": "many"}, 10)
        assert bad["status"] == "error" and "'steps' must be int" in bad["error"]
        typo = await request(cfg, d.node, "start_narma", {"backend": "sim:lv6"}, 10)
        assert typo["status"] == "error" and "unknown backend 'sim:lv6'" in typo["error"] and "sim:lv06" in typo["error"]
        assert "narma" not in (await request(cfg, d.node, "status", {}, 10))["data"]["experiments"]
        started = await request(cfg, d.node, "start_narma", {"backend": "esn", "steps": 400, "seeds": 2}, 10)
        assert started["status"] == "ok", started
        again = await request(cfg, d.node, "start_narma", {"backend": "esn", "steps": 400, "seeds": 2}, 10)
        assert again["status"] == "error" and "already running" in again["error"]
        result = None
        for _ in range(120):
            rep = await request(cfg, d.node, "narma", {}, 10)
            result = rep["data"]["narma"]
            if result is not None:
                break
            await asyncio.sleep(0.5)
        assert result is not None and result["status"] == "done", result
        assert 0 < result["nrmse"] < 5 and "control" in result["verdict"]
        # the recording stays under the state directory
        assert await asyncio.to_thread(Path(result["out"], "report.json").is_file)
        assert Path(result["out"]).is_relative_to(d.state_dir)
    finally:
        assert d.stop() == 0
