"""MQTT side of the daemon (aiomqtt 2.x): availability, retained state, events, queries and commands.

Connection loop: one reusable Client, ``async with client`` inside ``try/except MqttError`` with backoff. On every
connect the birth, node info, discovery and retained device states are (re)published and the request topics
(re)subscribed, because a v5 session with expiry 0 keeps nothing across reconnects. The last will covers a crash;
a clean stop publishes ``offline`` itself because brokers do not send the will on a clean disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from asicrc.drivers.backoff import Backoff
from asicrc.drivers.events import Event, FanOut, Kind

from .aio import raise_if_cancelled
from .api import Api, RequestError
from .config import MqttConfig
from .discovery import device_config, legacy_topics, removal_messages, reported_keys
from .topics import Topics

log = logging.getLogger("asicrc.mqtt")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def _clean(o: Any) -> Any:
    """JSON has no NaN/inf: map them to null so every consumer can parse the payload."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any) -> bytes:
    return json.dumps(_clean(obj), default=_json_default, separators=(",", ":")).encode()


def _peak(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        nums = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(nums) if nums else None
    return value


def _sum(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        nums = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return sum(nums) if nums else None
    return value


def device_state_payload(dev: dict[str, Any]) -> dict[str, Any]:
    """The retained per-device JSON: flat headline values (for HA templates) plus the full telemetry."""
    tele = dev.get("telemetry", {})
    est = dev.get("hashrate_estimate") or {}
    return {
        "device": dev.get("device"),
        "model": dev.get("model"),
        "state": dev.get("state"),
        "up": bool(dev.get("up")),
        "hashrate_hs": _sum(tele.get("hashrate_hs")),
        "share_hashrate_hs": est.get("value"),
        "share_hashrate_ci_hs": [est.get("low"), est.get("high")] if est else None,
        "temp_chip_c": _peak(tele.get("temp_chip_c")),
        "temp_board_c": _peak(tele.get("temp_board_c")),
        "power_w": _sum(tele.get("power_w")),
        "fan_rpm": _peak(tele.get("fan_rpm")),
        "frequency_hz": _peak(tele.get("frequency_hz")),
        "shares_accepted": dev.get("shares", {}).get("accepted", 0),
        "shares": dev.get("shares", {}),
        "faults": dev.get("faults", 0),
        "last_fault": dev.get("last_fault", ""),
        "telemetry": tele,
        # liveness (asicrc.daemon.fleetstate.liveness): a down device's headline values above are null and its
        # last good values are kept here, explicitly stale
        "available": bool(dev.get("available")),
        "stale": bool(dev.get("stale")),
        "last_success_unix": dev.get("last_success_unix"),
        "last_success_age_s": dev.get("last_success_age_s"),
        "last_good_telemetry": dev.get("last_good_telemetry", {}) if not dev.get("available") else None,
        "t_unix": time.time(),
    }


def event_payload(ev: Event) -> dict[str, Any]:
    return {"t_ns": ev.t_ns, "device": ev.device, "source": str(ev.source), "kind": str(ev.kind),
            "data": dict(ev.data)}


def build_client(cfg: MqttConfig, identifier: str, will_topic: str | None,
                 timeout_s: float = 10.0) -> aiomqtt.Client:
    """An aiomqtt client with the configured protocol, credentials and TLS (shared by daemon and CLI).
    `timeout_s` bounds the connect handshake and each operation."""
    password = cfg.password or (Path(cfg.password_file).read_text().strip() if cfg.password_file else "")
    tls_context = None
    if cfg.tls:
        tls_context = ssl.create_default_context(cafile=cfg.ca_file or None)
        if cfg.cert_file:
            tls_context.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    proto = aiomqtt.ProtocolVersion.V5 if cfg.protocol == "5" else aiomqtt.ProtocolVersion.V311
    will = aiomqtt.Will(will_topic, b"offline", qos=1, retain=True) if will_topic else None
    return aiomqtt.Client(
        cfg.host, cfg.port, identifier=identifier, protocol=proto, keepalive=cfg.keepalive_s, will=will,
        username=cfg.username or None, password=password or None, tls_context=tls_context, timeout=timeout_s,
    )


class MqttBridge:
    def __init__(self, cfg: MqttConfig, node_id: str, api: Api, fanout: FanOut,
                 get_snapshot: Callable[[], dict[str, Any]], get_info: Callable[[], dict[str, Any]],
                 before_reconnect: Callable[[], Awaitable[None]] | None = None) -> None:
        self.cfg = cfg
        # checked before every reconnect (not the first connect: the daemon checked before it started anything);
        # raises when another live daemon holds the node id, so this one backs off instead of taking over
        self.before_reconnect = before_reconnect
        self.topics = Topics(cfg.base_topic, node_id)
        self.api = api
        self.get_snapshot = get_snapshot
        self.get_info = get_info
        self.connected = False
        self.connects = 0
        self.published_events = 0
        # Events queue here across reconnects; telemetry goes out through the retained state instead.
        self._events = fanout.subscribe(maxsize=5000, kinds={Kind.SHARE, Kind.FAULT, Kind.STATE, Kind.NONCE})
        self._stop = asyncio.Event()
        self._announced: dict[str, frozenset[str]] = {}  # device -> sensor keys in its HA discovery config
        self._client: aiomqtt.Client | None = None
        self._wake_state = asyncio.Event()
        self._logged_unreachable = False

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def run(self) -> None:
        backoff = Backoff(initial_s=0.5, cap_s=15.0)
        client = build_client(self.cfg, f"asicrc-{self.topics.node}", self.topics.status)
        self._client = client
        attempts = 0
        while not self._stop.is_set():
            attempts += 1
            try:
                if attempts > 1 and self.before_reconnect is not None:
                    try:
                        await self.before_reconnect()
                    except RuntimeError as exc:  # NodeIdInUse: never evict a live daemon's session
                        log.error("mqtt: not reconnecting: %s", exc)
                        await self._wait_backoff(backoff)
                        continue
                async with client:
                    backoff.reset()
                    await self._session(client)
                    return
            except aiomqtt.MqttError as exc:
                self.connected = False
                if "taken over" in str(exc).lower():  # MQTT 5 reason 142: same client id connected elsewhere
                    log.error("mqtt: the broker handed our session (client id asicrc-%s) to another client: is "
                              "node id %r used twice?", self.topics.node, self.topics.node)
                elif not self._logged_unreachable:
                    log.warning("mqtt: broker %s:%d not reachable or lost (%s); running without MQTT and "
                                "retrying in the background", self.cfg.host, self.cfg.port, exc)
                    self._logged_unreachable = True
                else:
                    log.debug("mqtt: retry failed: %s", exc)
            await self._wait_backoff(backoff)

    async def _wait_backoff(self, backoff: Backoff) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), backoff.next_delay())

    def stop(self) -> None:
        """Ask `run` to publish offline, disconnect and return."""
        self._stop.set()

    def state_changed(self) -> None:
        """Publish device states now instead of at the next interval (reloads, commands)."""
        self._wake_state.set()

    async def _session(self, client: aiomqtt.Client) -> None:
        await self._on_connect(client)
        self.connected = True
        self.connects += 1
        if self._logged_unreachable or self.connects > 1:
            log.info("mqtt: connected to %s:%d again", self.cfg.host, self.cfg.port)
        else:
            log.info("mqtt: connected to %s:%d as node %r", self.cfg.host, self.cfg.port, self.topics.node)
        self._logged_unreachable = False
        try:
            async with asyncio.TaskGroup() as tg:
                stopper = tg.create_task(self._stop.wait())
                workers = [tg.create_task(self._messages(client, tg)), tg.create_task(self._state_loop(client)),
                           tg.create_task(self._event_loop(client))]
                await stopper
                for w in workers:
                    w.cancel()
        except* aiomqtt.MqttError as eg:
            self.connected = False
            raise eg.exceptions[0] from None
        # Clean stop: brokers do not send the will on a clean disconnect, so say offline ourselves.
        await client.publish(self.topics.status, b"offline", qos=1, retain=True, timeout=5)
        self.connected = False
        log.info("mqtt: published offline, disconnecting")

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        await client.publish(self.topics.status, b"online", qos=1, retain=True)
        await client.subscribe(self.topics.request("+"), qos=1)
        if self.cfg.discovery:
            await client.subscribe(f"{self.cfg.discovery_prefix}/status", qos=1)
            # per-entity configs retained by earlier asicrc versions: cleared as they arrive (see _messages)
            await client.subscribe(f"{self.cfg.discovery_prefix}/sensor/+/+/config", qos=1)
        self._announced.clear()
        await self._publish_states(client)

    # ---- publishing ------------------------------------------------------------------------------------
    async def _publish_states(self, client: aiomqtt.Client) -> None:
        snap = self.get_snapshot()
        devices: dict[str, dict[str, Any]] = snap.get("devices", {})
        await client.publish(self.topics.info, dumps(self.get_info()), qos=1, retain=True)
        for gone in sorted(set(self._announced) - set(devices)):
            await self._retract(client, gone)
        for dev_id, dev in devices.items():
            state = device_state_payload(dev)
            keys = reported_keys(state) | self._announced.get(dev_id, frozenset())
            if self.cfg.discovery and keys != self._announced.get(dev_id):
                # first announcement, or the device reported a sensor for the first time: (re)send its config
                topic, payload = device_config(self.cfg.discovery_prefix, self.topics, dev_id,
                                               str(dev.get("model", "")), keys)
                await client.publish(topic, payload, qos=1, retain=True)
            self._announced[dev_id] = keys
            await client.publish(self.topics.device_state(dev_id), dumps(state), qos=1, retain=True)

    async def _retract(self, client: aiomqtt.Client, device_id: str) -> None:
        """A device left the config: clear its retained state and HA entities."""
        await client.publish(self.topics.device_state(device_id), b"", qos=1, retain=True)
        if self.cfg.discovery:
            for topic, payload in removal_messages(self.cfg.discovery_prefix, self.topics, device_id):
                await client.publish(topic, payload, qos=1, retain=True)
        self._announced.pop(device_id, None)

    async def _state_loop(self, client: aiomqtt.Client) -> None:
        while True:
            raise_if_cancelled()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_state.wait(), self.cfg.telemetry_interval_s)
            self._wake_state.clear()
            await self._publish_states(client)

    async def _event_loop(self, client: aiomqtt.Client) -> None:
        while True:
            raise_if_cancelled()
            ev = await self._events.get()
            await client.publish(self.topics.device_event(ev.device), dumps(event_payload(ev)), qos=0)
            self.published_events += 1

    # ---- requests --------------------------------------------------------------------------------------
    async def _messages(self, client: aiomqtt.Client, tg: asyncio.TaskGroup) -> None:
        async for msg in client.messages:
            raise_if_cancelled()
            topic = str(msg.topic)
            if self.cfg.discovery and topic == f"{self.cfg.discovery_prefix}/status":
                if msg.payload == b"online":  # Home Assistant restarted: announce again
                    self._announced.clear()
                    self.state_changed()
                continue
            if self.cfg.discovery and msg.payload and self._is_legacy_config(topic):
                await client.publish(topic, b"", qos=1, retain=True)
                continue
            method = self.topics.method_of(topic)
            if method is not None and not msg.retain:
                tg.create_task(self._answer(client, method, msg))

    def _is_legacy_config(self, topic: str) -> bool:
        parts = topic.split("/")
        return (len(parts) == 5 and parts[1] == "sensor" and parts[2].startswith(f"asicrc_{self.topics.node}_")
                and topic in legacy_topics(self.cfg.discovery_prefix, self.topics,
                                           parts[2][len(f"asicrc_{self.topics.node}_"):]))

    async def _answer(self, client: aiomqtt.Client, method: str, msg: aiomqtt.Message) -> None:
        props = msg.properties
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        transaction: Any = None
        reply: dict[str, Any]
        try:
            raw = msg.payload
            text = raw.decode() if isinstance(raw, (bytes, bytearray)) else str(raw or "")
            params = json.loads(text) if text.strip() else {}
            if not isinstance(params, dict):
                raise RequestError("request payload must be a JSON object")
            transaction = params.pop("transaction", None)
            reply_to = params.pop("reply_to", None)
            if response_topic is None and isinstance(reply_to, str) and reply_to and not any(
                    c in reply_to for c in "+#"):
                response_topic = reply_to
            async with asyncio.timeout(self.cfg.request_timeout_s):
                data = await self.api.handle(method, params)
            reply = {"status": "ok", "data": data}
        except RequestError as exc:
            reply = {"status": "error", "error": str(exc)}
        except json.JSONDecodeError as exc:
            reply = {"status": "error", "error": f"request payload is not JSON: {exc}"}
        except TimeoutError:
            reply = {"status": "error", "error": f"{method} timed out after {self.cfg.request_timeout_s:g} s"}
        except Exception as exc:  # a handler bug must not kill the MQTT session
            log.exception("mqtt: request %s failed", method)
            reply = {"status": "error", "error": f"{method} failed: {type(exc).__name__}: {exc}"}
        if transaction is not None:
            reply["transaction"] = transaction
        out_props = None
        if self.cfg.protocol == "5":
            out_props = Properties(PacketTypes.PUBLISH)
            out_props.ContentType = "application/json"
            if correlation is not None:
                out_props.CorrelationData = correlation
        await client.publish(response_topic or self.topics.response(method), dumps(reply), qos=1, retain=False,
                             properties=out_props)


def new_client_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
