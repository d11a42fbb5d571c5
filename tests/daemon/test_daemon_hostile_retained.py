"""Retained messages any broker client may have written under a node's topics (no ACL): garbage in the node's
`info` (deep nesting, not UTF-8, not an object, wrong types) must not stop `asicrc run` at its node-id check nor
`asicrc status --all` with a traceback. Real `asicrc` processes, real mosquitto, 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

from daemon_harness import ASICRC, DaemonProc, module_broker, mqtt_client  # noqa: F401

from asicrc.daemon.client import request
from asicrc.daemon.config import MqttConfig
from asicrc.daemon.mqtt_requests import json_object

BARE = "[stratum]\nenabled = false\n[reservoir]\nenabled = false\n[tpf]\nenabled = false\n"
DEEP = b"[" * 200_000  # past the C JSON decoder's recursion limit: RecursionError, not a JSONDecodeError
GARBAGE = {"deep": DEEP, "latin1": b"\xff\xfe{\"host\": 1}", "list": b"[1, 2]",
           "types": json.dumps({"version": {"x": 1}, "host": [1], "started_unix": "yesterday",
                                "devices": [1, None, {"a": 2}]}).encode()}


def test_json_object_refuses_everything_but_an_object() -> None:
    for raw in GARBAGE.values():
        obj = json_object(raw)
        assert obj is None or isinstance(obj, dict)
    assert json_object(DEEP) is None and json_object(b"[1, 2]") is None and json_object(b"\xff") is None
    assert json_object(b'{"instance": "x"}') == {"instance": "x"}  # control: a real info passes


async def test_daemon_starts_past_a_poisoned_retained_info(module_broker, tmp_path) -> None:  # noqa: F811
    node = f"poisoned{uuid.uuid4().hex[:6]}"
    async with mqtt_client(module_broker) as c:  # "online" makes the node-id check read and parse the info
        await c.publish(f"asicrc/{node}/status", b"online", qos=1, retain=True)
        await c.publish(f"asicrc/{node}/info", DEEP, qos=1, retain=True)
    d = DaemonProc(tmp_path, module_broker, node=node, devices=BARE)
    try:
        d.notify.wait_for("READY=1", 30)
        reply = await request(MqttConfig(host="127.0.0.1", port=module_broker.port), node, "ping", {}, 10)
        assert reply["status"] == "ok"
        assert "Traceback" not in d.log()
    finally:
        assert d.stop() == 0


async def test_status_all_survives_garbage_retained_infos(module_broker) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    async with mqtt_client(module_broker) as c:
        for kind, raw in GARBAGE.items():
            await c.publish(f"asicrc/g{kind}{tag}/status", b"online", qos=1, retain=True)
            await c.publish(f"asicrc/g{kind}{tag}/info", raw, qos=1, retain=True)
        await c.publish(f"asicrc/good{tag}/status", b"online", qos=1, retain=True)
        await c.publish(f"asicrc/good{tag}/info", json.dumps({"version": "9.9", "host": "rig",
                                                              "devices": ["s9"]}).encode(), qos=1, retain=True)
    try:
        out = await asyncio.to_thread(subprocess.run, [ASICRC, "status", "--all", "--port", str(module_broker.port)],
                                      capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
        for kind in GARBAGE:
            assert f"g{kind}{tag}" in rows
        assert "9.9" in rows[f"good{tag}"] and "s9" in rows[f"good{tag}"]  # control: a real info is shown
    finally:
        async with mqtt_client(module_broker) as c:  # the module broker is shared: leave no retained garbage
            for name in [*(f"g{k}{tag}" for k in GARBAGE), f"good{tag}"]:
                await c.publish(f"asicrc/{name}/status", b"", qos=1, retain=True)
                await c.publish(f"asicrc/{name}/info", b"", qos=1, retain=True)
