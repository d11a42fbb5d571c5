"""Talking to running daemons over MQTT: one request/response, and a survey of every node on a broker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import uuid
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from asicrc.drivers.usererror import UserError

from . import config as config_mod
from .config import MqttConfig
from .mqtt import build_client, new_client_id
from .mqtt_requests import json_object
from .topics import Topics


class ClientError(UserError, RuntimeError):
    """A request to a running daemon over MQTT failed; the message says why (one line for the CLI)."""


class NodeOffline(ClientError):
    """The node's retained status says it stopped (clean stop or last will)."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", metavar="PATH", default=os.environ.get("ASICRC_CONFIG") or None,
                        help="read broker, credentials, base topic and node id from this daemon config "
                             "(default: $ASICRC_CONFIG)")
    parser.add_argument("--host", default=None, help="broker host (default: config, else 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="broker port (default: config, else 1883)")
    parser.add_argument("--node", default=None, help="node id of the daemon (default: config, else this host)")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default=None,
                        help="MQTT protocol (5 uses ResponseTopic/CorrelationData; 3.1.1 a transaction echo)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer")


def connection_from_args(args: argparse.Namespace) -> tuple[MqttConfig, str]:
    if not 0 < args.timeout < float("inf"):
        raise ClientError(f"--timeout must be a number of seconds > 0, got {args.timeout}")
    cfg = config_mod.load(args.config) if args.config else config_mod.Config()
    mq = cfg.mqtt
    changes: dict[str, Any] = {}
    if args.host:
        changes["host"] = args.host
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise ClientError(f"--port: {args.port} is not a TCP port (1..65535)")
        changes["port"] = args.port
    if args.protocol:
        changes["protocol"] = args.protocol
    if changes:
        import msgspec

        mq = msgspec.structs.replace(mq, **changes)
    node = args.node or cfg.node_id
    return mq, node


def _broker_error(mq: MqttConfig, exc: Exception) -> ClientError:
    return ClientError(f"cannot reach the MQTT broker at {mq.host}:{mq.port}: {exc}")


async def request(mq: MqttConfig, node: str, method: str, params: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """Send one request to `node` and return its reply dict ({"status": "ok"|"error", ...})."""
    topics = Topics(mq.base_topic, node)
    client_id = new_client_id("asicrc-cli")
    reply_topic = f"{mq.base_topic}/client/{client_id}/reply"
    transaction = uuid.uuid4().hex
    correlation = uuid.uuid4().bytes
    payload = dict(params)
    props = None
    if mq.protocol == "5":
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply_topic
        props.CorrelationData = correlation
        props.MessageExpiryInterval = max(1, int(wait_s))
    else:
        payload["transaction"] = transaction
        payload["reply_to"] = reply_topic
    try:
        async with build_client(mq, client_id, None, timeout_s=wait_s) as client:
            # the node's retained status first: its retained message arrives before the next SUBACK, so a stopped
            # node's "offline" is the first message and the answer comes at once instead of after the timeout
            await client.subscribe(topics.status, qos=1)
            await client.subscribe(reply_topic, qos=1)
            await client.publish(topics.request(method), json.dumps(payload).encode(), qos=1, properties=props)
            async with asyncio.timeout(wait_s):
                async for msg in client.messages:
                    if str(msg.topic) == topics.status:
                        if msg.payload == b"offline":
                            raise NodeOffline(f"node {node!r} is offline (its retained status on "
                                              f"{mq.host}:{mq.port} says so); `asicrc status --all` lists nodes")
                        continue
                    if mq.protocol == "5":
                        got = getattr(msg.properties, "CorrelationData", None) if msg.properties else None
                        if got != correlation:
                            continue
                    reply = json_object(msg.payload)
                    if reply is None or (mq.protocol != "5" and reply.get("transaction") != transaction):
                        continue  # not an answer (anyone who may publish into this inbox may have written it)
                    return dict(reply)
    except TimeoutError:
        raise ClientError(f"no answer from node {node!r} within {wait_s:g} s (is the daemon running and "
                          f"connected to {mq.host}:{mq.port}?)") from None
    except aiomqtt.MqttError as exc:
        raise _broker_error(mq, exc) from None
    raise ClientError("the broker closed the connection before an answer arrived")


async def survey(mq: MqttConfig, wait_s: float, connect_s: float = 10.0) -> dict[str, dict[str, Any]]:
    """Every node that left a retained status/info on the broker: {node: {"status": ..., "info": {...}}}.

    The broker sends a subscription's retained messages before it acknowledges the next SUBSCRIBE, so once a
    sentinel subscription is acknowledged every retained status/info is already queued: the survey reads those
    and returns (20 daemons in well under a second), however busy the live topics are. `wait_s` caps it."""
    nodes: dict[str, dict[str, Any]] = {}
    client_id = new_client_id("asicrc-cli")
    try:
        async with build_client(mq, client_id, None, timeout_s=connect_s) as client:
            await client.subscribe(f"{mq.base_topic}/+/status", qos=1)
            await client.subscribe(f"{mq.base_topic}/+/info", qos=1)
            await client.subscribe(f"{mq.base_topic}/client/{client_id}/sentinel", qos=1)
            messages = aiter(client.messages)
            queued = len(client.messages)
            with contextlib.suppress(TimeoutError, StopAsyncIteration):
                async with asyncio.timeout(wait_s):
                    for _ in range(queued):
                        msg = await anext(messages)
                        parts = str(msg.topic).split("/")
                        if len(parts) != 3 or parts[1] == "client":
                            continue
                        raw = bytes(msg.payload) if isinstance(msg.payload, (bytes, bytearray)) else b""
                        entry = nodes.setdefault(parts[1], {"status": None, "info": {}})
                        if parts[2] == "status":
                            entry["status"] = raw.decode(errors="replace") or None
                        elif raw:
                            entry["info"] = json_object(raw) or {}
    except aiomqtt.MqttError as exc:
        raise _broker_error(mq, exc) from None
    return {k: v for k, v in nodes.items() if v["status"] is not None or v["info"]}
