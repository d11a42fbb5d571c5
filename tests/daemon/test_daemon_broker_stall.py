"""A broker that stops delivering to a live session: mosquitto 2.0.11 counts every QoS 1 message it drops for
exceeding the daemon's MQTT 5 Maximum Packet Size against the session's 20 in flight, so 20 oversized requests from
anyone silence the daemon's request topics for good while its keepalives still pass (found by
bench/bench_hostile.py: no answers after the oversize attack). The daemon's self-check request notices and
reconnects with a fresh session. Real mosquitto, real `asicrc run`, 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import aiomqtt
import pytest
from conftest import Broker
from daemon_harness import DaemonProc, mqtt_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from asicrc.daemon.client import ClientError, request
from asicrc.daemon.config import MqttConfig
from asicrc.daemon.mqtt import PACKET_OVERHEAD_BYTES

BARE = "[stratum]\nenabled = false\n[reservoir]\nenabled = false\n[tpf]\nenabled = false\n"
DAEMON_MAX_PACKET = 65536 + PACKET_OVERHEAD_BYTES  # the default max_request_bytes plus overhead
OVERSIZED = b"a" * 80_000  # over the daemon's cap, far under the broker's own limit
STALL_AFTER = 25  # > the 20 QoS 1 messages mosquitto keeps in flight per session


async def flood_oversized(broker: Broker, topic: str) -> None:
    async with mqtt_client(broker) as c:
        for _ in range(STALL_AFTER):
            await c.publish(topic, OVERSIZED, qos=1)


async def broker_stalls(broker: Broker) -> bool:
    """The positive control: a plain client with the daemon's Maximum Packet Size stops receiving QoS 1."""
    props = Properties(PacketTypes.CONNECT)
    props.MaximumPacketSize = DAEMON_MAX_PACKET
    got: list[str] = []
    async with aiomqtt.Client(broker.host, broker.port, identifier="stall-probe", properties=props,
                              protocol=aiomqtt.ProtocolVersion.V5) as sub:
        await sub.subscribe("probe/+", qos=1)
        await flood_oversized(broker, "probe/big")
        async with mqtt_client(broker) as c:
            await c.publish("probe/ping", b"ping", qos=1)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.0):
                async for msg in sub.messages:
                    got.append(str(msg.topic))
    return "probe/ping" not in got


async def test_daemon_recovers_from_a_stalled_broker_session(mosquitto: Broker, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not await broker_stalls(mosquitto):
        pytest.skip("this mosquitto keeps delivering after oversized QoS 1 drops: the self-check is a safeguard only")
    d = DaemonProc(tmp_path, mosquitto, devices=BARE, extra="selfcheck_interval_s = 1")
    mq = MqttConfig(host="127.0.0.1", port=mosquitto.port)
    try:
        d.notify.wait_for("READY=1", 30)
        deadline = time.monotonic() + 15
        while (await _ping(mq, d.node, 2)) is False:  # MQTT connects after READY
            assert time.monotonic() < deadline, d.log()[-2000:]
        await flood_oversized(mosquitto, f"asicrc/{d.node}/request/status")
        t0 = time.monotonic()
        while not await _ping(mq, d.node, 3):
            assert time.monotonic() - t0 < 40, d.log()[-3000:]
        log = d.log()
        assert "the broker stopped delivering this node's requests" in log and "Traceback" not in log
        reply = await request(mq, d.node, "status", {}, 10)
        assert reply["data"]["mqtt"]["selfcheck_failures"] >= 1 and reply["data"]["mqtt"]["connects"] >= 2
    finally:
        assert d.stop() == 0


async def _ping(mq: MqttConfig, node: str, wait_s: float) -> bool:
    try:
        return (await request(mq, node, "ping", {}, wait_s)).get("status") == "ok"
    except ClientError:
        return False
