"""A device removed from the config while the daemon was stopped: after the restart its retained state and every
retained discovery config under its object id (whatever schema published it) are cleared; kept devices stay."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from conftest import Broker, free_port
from daemon_harness import DaemonProc, mqtt_client


def ghost(dev_id: str) -> str:
    # an HTTP LV06 at a closed loopback port: announced and published like any device, never up (no simulator)
    return f'\n[[devices]]\nid = "{dev_id}"\nmodel = "lv06"\ntransport = "http"\nport = {free_port()}\n'


async def retained(broker: Broker, topics: list[str], wait_s: float = 2.0) -> dict[str, bytes]:
    """Retained messages on `topics` right now (a fresh subscriber gets exactly those)."""
    seen: dict[str, bytes] = {}
    async with mqtt_client(broker) as c:
        for t in topics:
            await c.subscribe(t, qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                async for msg in c.messages:
                    if msg.retain and msg.payload:
                        seen[str(msg.topic)] = bytes(msg.payload)  # type: ignore[arg-type]
    return seen


async def test_removed_devices_are_cleared_after_a_restart(mosquitto: Broker, tmp_path: Path) -> None:
    node = "cleanup-node"
    first = DaemonProc(tmp_path, mosquitto, node=node, devices=ghost("keep") + ghost("gone"))
    try:
        first.notify.wait_for("READY=1", 30)
        watch = [f"asicrc/{node}/+/state", "homeassistant/#"]
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            before = await retained(mosquitto, watch, 1.0)
            if {f"asicrc/{node}/keep/state", f"asicrc/{node}/gone/state"} <= set(before):
                break
            assert asyncio.get_running_loop().time() < deadline, sorted(before)
    finally:
        assert first.stop() == 0
    gone_obj = f"asicrc_{node}_gone"
    assert any(gone_obj in t for t in before), sorted(before)
    # a discovery config of another schema (device-based discovery) left by some other asicrc version
    async with mqtt_client(mosquitto) as c:
        await c.publish(f"homeassistant/device/{gone_obj}/config", b'{"dev": {"ids": "x"}}', qos=1, retain=True)
        # someone else's retained config must not be touched
        await c.publish("homeassistant/sensor/other_thing/temp/config", b'{"name": "t"}', qos=1, retain=True)

    # a fresh directory (and state dir): the cleanup must not depend on anything the first run left on disk
    (tmp_path / "second").mkdir()
    second = DaemonProc(tmp_path / "second", mosquitto, node=node, devices=ghost("keep"))
    try:
        second.notify.wait_for("READY=1", 30)
        await asyncio.sleep(6.0)  # connect + the sweep window
        after = await retained(mosquitto, watch)
    finally:
        assert second.stop() == 0
    assert f"asicrc/{node}/gone/state" not in after
    assert not [t for t in after if gone_obj in t], sorted(after)
    # negative controls: the kept device and a stranger's config survive
    assert f"asicrc/{node}/keep/state" in after
    assert any(f"asicrc_{node}_keep" in t for t in after)
    assert "homeassistant/sensor/other_thing/temp/config" in after
    assert "clearing retained state and discovery of removed device 'gone'" in second.log()
