"""Hostile MQTT clients against the real `asicrc run` on a real mosquitto (127.0.0.1 only).

Each attack from issue 13 is reproduced first, then the daemon must still answer 3/3 pings, log no traceback,
and keep its memory: poisoned reply topics (NUL, lone surrogate, 70k characters, wildcards, other nodes' request
topics), non-UTF-8 and deeply nested payloads, oversized payloads, and request floods.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Broker
from daemon_harness import DaemonProc, module_broker, mqtt_client  # noqa: F401
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from asicrc.daemon.client import ClientError, request
from asicrc.daemon.config import MqttConfig

REQUEST_CAP = 131072
LV06_ONLY = """
[[devices]]
id = "lv06"
model = "lv06"
seed = 2
"""


@pytest.fixture(scope="module")
def daemon(module_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:  # noqa: F811
    # a cap above 70k so the 70k-character reply_to reaches the topic check (the default 64 KiB cap would have
    # the broker drop it before the daemon sees it: MQTT 5 Maximum Packet Size)
    d = DaemonProc(tmp_path_factory.mktemp("hostile"), module_broker, devices="",
                   extra=f"max_request_bytes = {REQUEST_CAP}")
    try:
        d.notify.wait_for("READY=1", 30)
        yield d
    finally:
        assert d.stop() == 0, d.log()[-3000:]


def mq(d: DaemonProc, protocol: str = "5") -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=d.broker.port, protocol=protocol)


async def pings_answered(d: DaemonProc, n: int = 3, wait_s: float = 5.0) -> int:
    ok = 0
    for _ in range(n):
        try:
            reply = await request(mq(d), d.node, "ping", {}, wait_s)
        except ClientError:
            continue
        ok += reply.get("status") == "ok" and reply["data"]["pong"] is True
    return ok


def rss_kib(d: DaemonProc) -> int:
    for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def send_and_collect(d: DaemonProc, method: str, payloads: list[bytes], wait_s: float = 10.0,
                           props: Properties | None = None) -> list[dict[str, Any]]:
    """Publish raw payloads to request/<method>; collect the replies on the default response topic."""
    replies: list[dict[str, Any]] = []
    async with mqtt_client(d.broker) as c:
        await c.subscribe(f"asicrc/{d.node}/response/{method}", qos=1)
        for p in payloads:
            await c.publish(f"asicrc/{d.node}/request/{method}", p, qos=1, properties=props)
        with contextlib.suppress(TimeoutError):  # the test then sees how many replies came back
            async with asyncio.timeout(wait_s):
                async for msg in c.messages:
                    replies.append(json.loads(bytes(msg.payload)))
                    if len(replies) == len(payloads):
                        break
    return replies


POISON = {
    "nul": b'{"transaction": "nul", "reply_to": "a\\u0000b"}',
    "lone surrogate": b'{"transaction": "sur", "reply_to": "\\ud800"}',
    "70k characters": json.dumps({"transaction": "long", "reply_to": "asicrc/client/" + "a" * 70_000}).encode(),
    "wildcard": b'{"transaction": "wild", "reply_to": "asicrc/client/+/x"}',
    "another node's command topic": b'{"transaction": "loop", "reply_to": "asicrc/other/request/restart_device"}',
    "outside the reply prefix": b'{"transaction": "ha", "reply_to": "homeassistant/sensor/x/config"}',
}


async def test_poisoned_reply_topics_are_refused_and_pings_still_answered(daemon: DaemonProc) -> None:
    assert await pings_answered(daemon, 3, 15.0) == 3  # connected before the attack
    replies = await send_and_collect(daemon, "status", list(POISON.values()))
    assert len(replies) == len(POISON), (replies, daemon.log()[-3000:])  # each answered on the default topic
    by_tx = {r["transaction"]: r for r in replies}
    for tx in ("nul", "sur", "long", "wild", "loop", "ha"):
        assert by_tx[tx]["status"] == "error" and "reply_to" in by_tx[tx]["error"], by_tx[tx]
    assert "NUL" in by_tx["nul"]["error"] and "UTF-8" in by_tx["sur"]["error"]
    assert "longer than" in by_tx["long"]["error"] and "wildcard" in by_tx["wild"]["error"]
    assert "asicrc/client/" in by_tx["ha"]["error"] and "asicrc/client/" in by_tx["loop"]["error"]
    assert len(by_tx["long"]["error"]) < 500  # the 70k topic is not echoed back
    assert await pings_answered(daemon) == 3
    status = await request(mq(daemon), daemon.node, "status", {}, 10)
    assert status["data"]["mqtt"]["connects"] == 1  # the broker never dropped the daemon
    assert "Traceback" not in daemon.log()


async def test_poisoned_v5_response_topic_is_refused(daemon: DaemonProc) -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "asicrc/client/#"
    props.CorrelationData = b"c1"
    replies = await send_and_collect(daemon, "ping", [b"{}"], props=props)
    assert replies and replies[0]["status"] == "error" and "wildcard" in replies[0]["error"]
    assert await pings_answered(daemon) == 3


async def test_poison_is_not_retried_after_a_broker_restart(daemon: DaemonProc) -> None:
    await send_and_collect(daemon, "status", [POISON["nul"], POISON["lone surrogate"]])
    daemon.broker.restart()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and await pings_answered(daemon, 1, 2.0) == 0:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    assert await pings_answered(daemon) == 3
    await asyncio.sleep(2.0)  # a resent poisoned publish would get the daemon dropped again by now
    assert await pings_answered(daemon) == 3


async def test_non_utf8_and_deep_nesting_get_an_error_without_traceback(daemon: DaemonProc) -> None:
    bad = [b"\xff\xfe{\"a\": 1}", b"[" * 50_000, b"{" * 30_000, b"[1, 2]", b"{\"a\": " * 20_000]
    replies = await send_and_collect(daemon, "status", bad)
    errors = sorted(r["error"] for r in replies)
    assert len(errors) == len(bad) and all(r["status"] == "error" for r in replies), replies
    assert any("not UTF-8" in e for e in errors)
    assert sum("nested deeper than" in e for e in errors) >= 2
    assert any("must be a JSON object" in e for e in errors)
    log = daemon.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert await pings_answered(daemon) == 3


async def test_oversized_payloads_do_not_grow_memory(daemon: DaemonProc) -> None:
    assert await pings_answered(daemon) == 3
    before = rss_kib(daemon)
    big = b'{"x": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    async with mqtt_client(daemon.broker) as c:
        for _ in range(5):
            await c.publish(f"asicrc/{daemon.node}/request/status", big, qos=1)
    del big
    assert await pings_answered(daemon) == 3
    await asyncio.sleep(1.0)
    grown = rss_kib(daemon) - before
    assert grown < 20 * 1024, f"RSS grew by {grown} KiB"
    # just over the cap is refused with a reply naming the cap (the broker delivers it; the daemon refuses it)
    over = b'{"transaction": 1, "x": "' + b"a" * (REQUEST_CAP + 1000) + b'"}'
    replies = await send_and_collect(daemon, "status", [over])
    assert replies and replies[0]["status"] == "error" and "larger than" in replies[0]["error"]


async def test_request_flood_is_bounded(daemon: DaemonProc) -> None:
    before = rss_kib(daemon)
    async with mqtt_client(daemon.broker) as c:
        for i in range(5000):
            await c.publish(f"asicrc/{daemon.node}/request/status", json.dumps({"transaction": i}).encode(),
                            qos=0)
    # while the backlog drains, requests beyond the rate limit (pings too) are dropped; then all are answered
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and await pings_answered(daemon, 1, 2.0) == 0:
        pass
    assert await pings_answered(daemon, 3, 10.0) == 3
    assert rss_kib(daemon) - before < 20 * 1024
    assert daemon.proc.poll() is None


# ---- commands: read-only by default, rate limits, restart dedup, experiment caps --------------------------------

async def test_commands_are_off_by_default(daemon: DaemonProc) -> None:
    for method, params in (("set_fan", {"device": "lv06", "percent": 80}), ("restart_device", {"device": "lv06"}),
                           ("start_narma", {"steps": 10})):
        reply = await request(mq(daemon), daemon.node, method, params, 10)
        assert reply["status"] == "error" and "not allowed" in reply["error"] and "read-only" in reply["error"]


@pytest.fixture(scope="module")
def commanding(module_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:  # noqa: F811
    d = DaemonProc(tmp_path_factory.mktemp("commanding"), module_broker, devices=LV06_ONLY,
                   extra='allow_commands = ["set_fan", "restart_device", "start_narma"]\n'
                         'command_rate_per_min = 60\ncommand_rates = {set_fan = 2}\n'
                         "\n[experiments]\nmax_steps_x_seeds = 20000\n")
    try:
        d.notify.wait_for("READY=1", 30)
        yield d
    finally:
        assert d.stop() == 0, d.log()[-3000:]


async def _wait_up(d: DaemonProc, device: str) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:  # the daemon subscribes to requests only once connected, shortly after READY=1
            reply = await request(mq(d), d.node, "status", {}, 2)
        except ClientError:
            continue
        if reply["data"]["devices"].get(device, {}).get("up"):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"{device} not up")


async def test_per_command_rate_limit(commanding: DaemonProc) -> None:
    await _wait_up(commanding, "lv06")
    got = [await request(mq(commanding), commanding.node, "set_fan", {"device": "lv06", "percent": p}, 10)
           for p in (70, 70, 70)]
    assert [g["status"] for g in got[:2]] == ["ok", "ok"], got
    assert got[2]["status"] == "error" and "rate limit" in got[2]["error"] and "set_fan" in got[2]["error"]


async def test_concurrent_restarts_reach_the_device_once(commanding: DaemonProc) -> None:
    await _wait_up(commanding, "lv06")
    restarts = 0
    async with mqtt_client(commanding.broker) as c:
        await c.subscribe(f"asicrc/{commanding.node}/lv06/event", qos=1)
        replies = await asyncio.gather(*(request(mq(commanding), commanding.node, "restart_device",
                                                 {"device": "lv06"}, 60) for _ in range(10)))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3):
                async for msg in c.messages:
                    ev = json.loads(bytes(msg.payload))
                    restarts += ev["kind"] == "state" and ev["data"].get("state") == "restarting"
    assert restarts == 1
    assert all(r["status"] == "ok" for r in replies), replies
    assert sum(bool(r["data"].get("deduplicated")) for r in replies) == 9


async def test_experiment_size_is_capped(commanding: DaemonProc) -> None:
    reply = await request(mq(commanding), commanding.node, "start_narma", {"steps": 50_000_000, "seeds": 5}, 10)
    assert reply["status"] == "error"
    assert "steps × seeds = 250000000" in reply["error"] and "20000" in reply["error"]
    reply = await request(mq(commanding), commanding.node, "start_narma", {"steps": 0}, 10)
    assert reply["status"] == "error" and "steps" in reply["error"]
