"""End to end: the real `asicrc run` subprocess on a simulated fleet, a real mosquitto, queries and commands."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import aiomqtt
import pytest
from conftest import find_tool, free_port
from daemon_harness import ASICRC, FLEET, DaemonProc, collect, module_broker, mqtt_client  # noqa: F401
from ha_schema import availability, check_device_config, render
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client.parser import text_string_to_metric_families

from asicrc.daemon.client import request
from asicrc.daemon.config import MqttConfig

ROOT = Path(__file__).resolve().parents[2]
GHOSTS = f"""
[[devices]]
id = "ghost-http"
model = "lv06"
transport = "http"
host = "127.0.0.1"
port = {free_port()}

[[devices]]
id = "ghost-serial"
model = "bm1366-uart"
transport = "serial"
serial_port = "/nonexistent/ttyUSB9"
"""


@pytest.fixture(scope="module")
def daemon(module_broker, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    d = DaemonProc(tmp_path_factory.mktemp("daemon"), module_broker, devices=FLEET + GHOSTS,
                   extra='allow_commands = ["set_frequency", "set_voltage", "set_fan", "set_difficulty", '
                                                          '"restart_device"]')
    try:
        d.notify.wait_for("READY=1", 30)
        _wait_until_up(d, ("s9", "lv06", "lbbox"), 40)
        yield d
    finally:
        rc = d.stop()
        assert rc == 0, d.log()[-3000:]


def _wait_until_up(d: DaemonProc, devices: tuple[str, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    want = [f'asicrc_device_up{{device="{dev}",node="{d.node}"}} 1.0' for dev in devices]
    text = ""
    while time.monotonic() < deadline:
        text = _scrape(d)
        if all(w in text for w in want):
            return
        time.sleep(0.3)
    raise AssertionError(f"devices not up within {timeout} s: {[w for w in want if w not in text]}")


def mq(d: DaemonProc, protocol: str = "5") -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=d.broker.port, protocol=protocol)


async def test_telemetry_state_and_discovery_are_published(daemon: DaemonProc) -> None:
    node = daemon.node
    state_topic = f"asicrc/{node}/lv06/state"
    devices = ("s9", "lv06", "lbbox", "ghost-http", "ghost-serial")
    disc = {d: f"homeassistant/device/asicrc_{node}_{d}/config" for d in devices}

    def ready(seen: dict) -> bool:
        st = seen.get(state_topic)
        s9 = seen.get(f"asicrc/{node}/s9/state")
        lb = seen.get(f"asicrc/{node}/lbbox/state")
        return bool(st and st["up"] and st["temp_chip_c"] and st["hashrate_hs"] and st["power_w"] and s9
                    and s9["up"] and s9["fan_rpm"] and lb and lb["up"] and all(t in seen for t in disc.values())
                    and all(f"asicrc/{node}/{d}/state" in seen for d in devices)
                    and "power_w" in (seen[disc["lv06"]] or {}).get("components", {}))

    async with mqtt_client(daemon.broker) as c:
        await c.subscribe(f"asicrc/{node}/#")
        await c.subscribe("homeassistant/#")
        seen = await collect(c, ready, 40)
    assert seen[f"asicrc/{node}/status"] == "online"
    assert seen[f"asicrc/{node}/info"]["node"] == node
    lv06 = seen[state_topic]
    assert lv06["model"] == "lv06" and 0 < lv06["power_w"] < 100 and 20 < lv06["temp_chip_c"] < 100
    assert lv06["hashrate_hs"] > 1e9
    # every discovery config the daemon retained passes HA's documented schema; none uses the old per-entity topics
    configs = {t: v for t, v in seen.items() if t.startswith("homeassistant/") and v}
    assert set(configs) == set(disc.values()), sorted(configs)
    for topic, cfg in configs.items():
        check_device_config(topic, json.dumps(cfg).encode())
    comps = {d: set(seen[disc[d]]["components"]) for d in devices}
    # entities only for what the device reports: the S9 (bmminer) and the Goldshell report no power
    assert "power_w" in comps["lv06"] and "power_w" not in comps["s9"] and "power_w" not in comps["lbbox"]
    assert {"hashrate_hs", "temp_chip_c", "fan_rpm", "frequency_hz"} <= comps["s9"]
    assert comps["ghost-http"] == {"shares_accepted"}  # never reached: nothing measured, nothing announced
    temp = seen[disc["lv06"]]["components"]["temp_chip_c"]
    assert temp["device_class"] == "temperature" and temp["unit_of_measurement"] == "°C"
    assert temp["unique_id"] == f"asicrc_{node}_lv06_temp_chip_c"
    assert float(render(temp["value_template"], lv06)) == lv06["temp_chip_c"]
    # availability per device: the live ones are available, the dead one is not (not a frozen last value)
    states = {t: v for t, v in seen.items() if t.startswith(f"asicrc/{node}/")}
    for d in ("s9", "lv06", "lbbox"):
        assert availability(seen[disc[d]], states), d
    assert not availability(seen[disc["ghost-http"]], states)
    assert not availability(seen[disc["lv06"]], {**states, f"asicrc/{node}/status": "offline"})  # daemon gone


async def test_v5_query_echoes_correlation_data(daemon: DaemonProc) -> None:
    reply_topic = f"asicrc/client/{uuid.uuid4().hex}/reply"  # replies only go under mqtt.reply_topic_prefixes
    async with mqtt_client(daemon.broker) as c:
        await c.subscribe(reply_topic, qos=1)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = b"\x00corr-42"
        await c.publish(f"asicrc/{daemon.node}/request/status", b"{}", qos=1, properties=props)
        async with asyncio.timeout(15):
            msg = await anext(aiter(c.messages))
    assert str(msg.topic) == reply_topic
    assert getattr(msg.properties, "CorrelationData", None) == b"\x00corr-42"
    reply = json.loads(bytes(msg.payload))
    assert reply["status"] == "ok"
    assert reply["data"]["node"] == daemon.node
    assert {"s9", "lv06", "lbbox", "ghost-http", "ghost-serial"} == set(reply["data"]["devices"])


async def test_v311_query_echoes_transaction(daemon: DaemonProc) -> None:
    async with mqtt_client(daemon.broker, aiomqtt.ProtocolVersion.V311) as c:
        await c.subscribe(f"asicrc/{daemon.node}/response/devices", qos=1)
        await c.publish(f"asicrc/{daemon.node}/request/devices", json.dumps({"transaction": "123"}).encode(), qos=1)
        async with asyncio.timeout(15):
            msg = await anext(aiter(c.messages))
        reply = json.loads(bytes(msg.payload))
    assert reply["status"] == "ok" and reply["transaction"] == "123"
    lv06 = next(d for d in reply["data"] if d["device"] == "lv06")
    assert lv06["envelope"]["frequency_mhz"]["high"] == 575.0
    # reply_to in the payload (v3.1.1 clients that want a private reply topic)
    reply = await request(mq(daemon, "3.1.1"), daemon.node, "ping", {}, 10)
    assert reply["status"] == "ok" and reply["data"] == {"pong": True, "node": daemon.node}


async def test_commands_go_through_the_envelope(daemon: DaemonProc) -> None:
    cfg = mq(daemon)
    async with mqtt_client(daemon.broker) as c:
        await c.subscribe(f"asicrc/{daemon.node}/lv06/event", qos=1)
        ok = await request(cfg, daemon.node, "set_fan", {"device": "lv06", "percent": 80}, 15)
        assert ok["status"] == "ok", ok
        assert ok["data"] == {"device": "lv06", "setting": "fan_percent", "value": 80.0}
        async with asyncio.timeout(15):
            async for msg in c.messages:  # the driver reports the change it sent to the (simulated) device
                ev = json.loads(bytes(msg.payload))
                if ev["kind"] == "state" and ev["data"].get("state") == "setting-changed":
                    assert ev["data"]["setting"] == "fan_percent"
                    break
    refused = await request(cfg, daemon.node, "set_frequency", {"device": "lv06", "mhz": 900}, 10)
    assert refused["status"] == "error"
    assert "refused by the safety envelope" in refused["error"] and "outside [400, 575]" in refused["error"]
    refused = await request(cfg, daemon.node, "set_voltage", {"device": "lv06", "mv": 2000}, 10)
    assert refused["status"] == "error" and "outside [1100, 1300]" in refused["error"]
    not_allowed = await request(cfg, daemon.node, "start_narma", {}, 10)
    assert not_allowed["status"] == "error" and "not allowed" in not_allowed["error"]
    unknown = await request(cfg, daemon.node, "format_disk", {}, 10)
    assert unknown["status"] == "error" and "unknown method 'format_disk'" in unknown["error"]
    bad = await request(cfg, daemon.node, "set_fan", {"device": "lv06", "percent": "max"}, 10)
    assert bad["status"] == "error" and "finite number" in bad["error"]
    missing = await request(cfg, daemon.node, "set_fan", {"device": "nope", "percent": 50}, 10)
    assert missing["status"] == "error" and "unknown or not running device 'nope'" in missing["error"]
    # stock S9 firmware cannot be restarted over 4028: a one-line refusal, and no traceback in the daemon's log
    no_restart = await request(cfg, daemon.node, "restart_device", {"device": "s9"}, 10)
    assert no_restart["status"] == "error" and "restart" in no_restart["error"], no_restart
    assert "Traceback" not in daemon.log()


def test_failing_devices_do_not_take_the_daemon_down(daemon: DaemonProc) -> None:
    out = subprocess.run([ASICRC, "query", "status", "--port", str(daemon.broker.port), "--node", daemon.node],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)["data"]
    assert status["devices"]["lv06"]["up"] and status["devices"]["s9"]["up"]
    assert not status["devices"]["ghost-http"]["up"]
    assert not status["devices"]["ghost-serial"]["up"]
    assert daemon.proc.poll() is None


def test_cli_query_error_and_status_all(daemon: DaemonProc) -> None:
    out = subprocess.run([ASICRC, "query", "set_frequency", '{"device": "lv06", "mhz": 900}', "--port",
                          str(daemon.broker.port), "--node", daemon.node], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "outside [400, 575]" in out.stderr
    out = subprocess.run([ASICRC, "status", "--all", "--port", str(daemon.broker.port)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith(daemon.node))
    assert "online" in line and "lv06" in line
    out = subprocess.run([ASICRC, "query", "status", "--port", str(free_port()), "--timeout", "3"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and "cannot reach the MQTT broker" in out.stderr and "Traceback" not in out.stderr


def _scrape(d: DaemonProc) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{d.prom_port}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def test_scraped_exposition_passes_promtool(daemon: DaemonProc) -> None:
    text = _scrape(daemon)
    proc = subprocess.run([find_tool("promtool"), "check", "metrics"], input=text.encode(), capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert f'asicrc_device_up{{device="lv06",node="{daemon.node}"}} 1.0' in text


def _documented_metric_names() -> set[str]:
    import re

    names = set(re.findall(r"`(asicrc_[a-z0-9_]+)`", (ROOT / "docs" / "metrics.md").read_text()))
    dash = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    for expr in exprs:
        names |= set(re.findall(r"\b(asicrc_[a-z0-9_]+|process_[a-z0-9_]+)\b", expr))
    return names


def test_every_documented_metric_is_exported(daemon: DaemonProc) -> None:
    exported = {s.name for fam in text_string_to_metric_families(_scrape(daemon)) for s in fam.samples}
    documented = _documented_metric_names()
    assert len(documented) > 20
    missing = sorted(documented - exported)
    assert missing == [], missing


async def test_status_all_lists_every_node_on_the_broker(daemon: DaemonProc) -> None:
    # another site's daemon left its retained availability and info (here: it went offline cleanly)
    other = f"site-{uuid.uuid4().hex[:6]}"
    async with mqtt_client(daemon.broker) as c:
        await c.publish(f"asicrc/{other}/status", b"offline", qos=1, retain=True)
        await c.publish(f"asicrc/{other}/info", json.dumps({"node": other, "version": "0.1.0", "host": "far",
                                                            "devices": ["s9-a"]}).encode(), qos=1, retain=True)
    proc = await asyncio.create_subprocess_exec(ASICRC, "status", "--all", "--json", "--port",
                                                str(daemon.broker.port), stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    nodes = json.loads(out)
    assert nodes[daemon.node]["status"] == "online" and "lv06" in nodes[daemon.node]["info"]["devices"]
    assert nodes[other] == {"status": "offline", "info": {"node": other, "version": "0.1.0", "host": "far",
                                                          "devices": ["s9-a"]}}


async def test_home_assistant_restart_gets_discovery_again(daemon: DaemonProc) -> None:
    topic = f"homeassistant/device/asicrc_{daemon.node}_lv06/config"
    legacy = f"homeassistant/sensor/asicrc_{daemon.node}_lv06/power/config"
    async with mqtt_client(daemon.broker) as c:
        await c.publish(topic, b"", qos=1, retain=True)  # as if HA's retained config had been lost
        # a per-entity config an earlier asicrc version retained: the daemon clears it (HA would show it twice)
        await c.publish(legacy, json.dumps({"object_id": "old", "state_topic": "x"}).encode(), qos=1, retain=True)
        await c.subscribe(topic, qos=1)
        await c.subscribe(legacy, qos=1)
        await c.publish("homeassistant/status", b"online", qos=1)  # HA's birth message
        seen = await collect(c, lambda s: bool(s.get(topic)) and legacy in s and s[legacy] is None, 30)
    power = seen[topic]["components"]["power_w"]
    assert power["device_class"] == "power" and power["unit_of_measurement"] == "W"


async def test_tpf_and_reservoir_queries(daemon: DaemonProc) -> None:
    tpf = await request(mq(daemon), daemon.node, "tpf", {}, 10)
    assert tpf["status"] == "ok"
    assert tpf["data"]["enabled"] is False and tpf["data"]["reason"]  # off until held-out evidence says otherwise
    res = await request(mq(daemon), daemon.node, "reservoir", {}, 10)
    assert res["status"] == "ok" and res["data"]["stream"]["windows"] >= 1
    assert "lv06" in res["data"]["stream"]["devices"]
