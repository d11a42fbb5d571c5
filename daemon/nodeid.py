"""One daemon per node id on a broker: look before connecting with the node's fixed client id.

The daemon's client id is ``asicrc-<node>``; a second daemon with the same node id connecting with it would take
the first one's session over (MQTT allows one session per client id), and the two would then evict each other on
every reconnect. So before connecting as the node, a throw-away client reads the node's retained ``status`` and
``info`` (which carries a per-process ``instance`` token, host and pid). If the status says ``online`` and the
instance is not ours, that daemon is pinged over the request topic: an answer means it is alive and this one must
not start; no answer means the retained ``online`` is stale (a crash while the broker was down) and we go ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from asicrc.drivers.usererror import UserError

from .config import MqttConfig
from .mqtt import build_client, new_client_id
from .mqtt_requests import json_object
from .topics import Topics

PING_WAIT_S = 3.0  # how long a retained "online" holder gets to answer before it is taken for stale
RETAINED_GRACE_S = 0.3  # after the subscriptions are acknowledged, for retained messages still in flight


class NodeIdInUse(UserError, RuntimeError):
    """Another live daemon holds this node id on the broker."""



@dataclass(frozen=True, slots=True)
class Holder:
    status: str | None
    info: dict[str, Any]


async def read_retained(client: aiomqtt.Client, topics: Topics, extra_subscription: str) -> Holder:
    """The node's retained status and info. Subscribing to `extra_subscription` afterwards orders things: the
    broker sends a subscription's retained messages before it acknowledges the next SUBSCRIBE."""
    await client.subscribe(topics.status, qos=1)
    await client.subscribe(topics.info, qos=1)
    await client.subscribe(extra_subscription, qos=1)
    status: str | None = None
    info: dict[str, Any] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(RETAINED_GRACE_S):
            async for msg in client.messages:
                raw = bytes(msg.payload) if isinstance(msg.payload, (bytes, bytearray)) else b""
                if str(msg.topic) == topics.status:
                    status = raw.decode(errors="replace") or None
                elif str(msg.topic) == topics.info and raw:
                    info = json_object(raw) or {}
                if status is not None and info:
                    break
    return Holder(status, info)


async def _answers_ping(client: aiomqtt.Client, cfg: MqttConfig, topics: Topics, reply_topic: str,
                        wait_s: float) -> bool:
    transaction = uuid.uuid4().hex
    props = None
    if cfg.protocol == "5":
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = transaction.encode()
    payload = {"transaction": transaction, "reply_to": reply_topic}
    await client.publish(topics.request("ping"), json.dumps(payload).encode(), qos=1, properties=props)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait_s):
            async for msg in client.messages:
                if str(msg.topic) != reply_topic:
                    continue
                reply = json_object(msg.payload)
                if reply is not None and (reply.get("transaction") == transaction or (
                        msg.properties is not None
                        and getattr(msg.properties, "CorrelationData", None) == transaction.encode())):
                    return True
    return False


async def ensure_node_free(cfg: MqttConfig, node: str, instance: str, ping_wait_s: float = PING_WAIT_S) -> None:
    """Raise NodeIdInUse when another live daemon holds `node`; aiomqtt.MqttError when the broker is away."""
    topics = Topics(cfg.base_topic, node)
    client_id = new_client_id("asicrc-probe")
    reply_topic = f"{cfg.base_topic}/client/{client_id}/reply"
    async with build_client(cfg, client_id, None, timeout_s=5.0) as client:
        holder = await read_retained(client, topics, reply_topic)
        if holder.status != "online" or holder.info.get("instance") == instance:
            return
        if await _answers_ping(client, cfg, topics, reply_topic, ping_wait_s):
            info = holder.info
            raise NodeIdInUse(
                f"node id {node!r} is already in use on the broker {cfg.host}:{cfg.port} by a live daemon "
                f"(host {info.get('host', '?')}, pid {info.get('pid', '?')}); give this one another [node] id")
