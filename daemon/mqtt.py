"""MQTT side of the daemon (aiomqtt 2.x): availability, retained state, events, queries and commands.

Connection loop: one reusable Client, ``async with client`` inside ``try/except MqttError`` with backoff. On every
connect the birth, node info, discovery and retained device states are (re)published and the request topics
(re)subscribed, because a v5 session with expiry 0 keeps nothing across reconnects. The last will covers a crash;
a clean stop publishes ``offline`` itself because brokers do not send the will on a clean disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from asicrc.drivers import strictjson
from asicrc.drivers.backoff import Backoff
from asicrc.drivers.events import Event, FanOut, Kind

from .aio import raise_if_cancelled
from .api import Api, RequestError
from .config import NAME_PATTERN, MqttConfig
from .discovery import device_config, discovery_id, legacy_topics, removal_messages, reported_keys
from .mqtt_requests import check_reply_topic, decode_request
from .ratelimit import RateLimiter
from .topics import Topics

log = logging.getLogger("asicrc.mqtt")


def dumps(obj: Any) -> bytes:
    """A payload in strict JSON (no NaN/inf: null), compact."""
    return strictjson.dumps(obj, separators=(",", ":")).encode()


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


def _state_mark(dev: dict[str, Any]) -> tuple[Any, ...]:
    """What a device's published state depends on, apart from the clock: equal marks, equal payloads."""
    est = dev.get("hashrate_estimate") or {}
    return (dev.get("last_success_unix"), dev.get("state"), dev.get("available"), dev.get("stale"),
            tuple(sorted(dev.get("shares", {}).items())), dev.get("faults"), dev.get("last_fault"),
            est.get("value"), est.get("low"), est.get("high"), dev.get("model"))


def event_payload(ev: Event) -> dict[str, Any]:
    return {"t_ns": ev.t_ns, "device": ev.device, "source": str(ev.source), "kind": str(ev.kind),
            "data": dict(ev.data)}


class _OncePerMinute(logging.Filter):
    """Lets a repeated warning (aiomqtt's "queue is full", per dropped message) through once a minute."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key, now = str(record.msg), time.monotonic()
        if now - self._last.get(key, -math.inf) < 60.0:
            return False
        self._last[key] = now
        return True


_client_log = logging.getLogger("asicrc.mqtt.client")
_client_log.addFilter(_OncePerMinute())

# Room for the fixed header, topic and properties on top of a request payload of max_request_bytes.
PACKET_OVERHEAD_BYTES = 4096
MAX_QUEUED_INCOMING = 1000  # messages waiting for the request loop; beyond this paho's messages are dropped
MAX_QUEUED_OUTGOING = 10000  # publishes paho holds unacknowledged (a slow broker); beyond this they fail at once


def build_client(cfg: MqttConfig, identifier: str, will_topic: str | None,
                 timeout_s: float = 10.0, max_packet_bytes: int | None = None) -> aiomqtt.Client:
    """An aiomqtt client with the configured protocol, credentials and TLS (shared by daemon and CLI).
    `timeout_s` bounds the connect handshake and each operation. `max_packet_bytes` (MQTT 5 only) tells the
    broker the largest packet this client accepts: the broker drops bigger messages instead of sending them, so
    a 50 MB request never reaches the daemon's memory (on 3.1.1 only the broker's own limit can do that)."""
    password = cfg.password or (Path(cfg.password_file).read_text().strip() if cfg.password_file else "")
    tls_context = None
    if cfg.tls:
        tls_context = ssl.create_default_context(cafile=cfg.ca_file or None)
        if cfg.cert_file:
            tls_context.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    proto = aiomqtt.ProtocolVersion.V5 if cfg.protocol == "5" else aiomqtt.ProtocolVersion.V311
    will = aiomqtt.Will(will_topic, b"offline", qos=1, retain=True) if will_topic else None
    connect_props = None
    if max_packet_bytes is not None and proto == aiomqtt.ProtocolVersion.V5:
        connect_props = Properties(PacketTypes.CONNECT)
        connect_props.MaximumPacketSize = max_packet_bytes
    return aiomqtt.Client(
        cfg.host, cfg.port, identifier=identifier, protocol=proto, keepalive=cfg.keepalive_s, will=will,
        username=cfg.username or None, password=password or None, tls_context=tls_context, timeout=timeout_s,
        properties=connect_props, max_queued_incoming_messages=MAX_QUEUED_INCOMING,
        max_queued_outgoing_messages=MAX_QUEUED_OUTGOING, logger=_client_log,
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
        self._published: dict[str, tuple[Any, ...]] = {}  # device -> _state_mark of its last published state
        self._client: aiomqtt.Client | None = None
        self._wake_state = asyncio.Event()
        self._logged_unreachable = False
        self._inflight = 0  # requests being answered now (bounded by cfg.max_concurrent_requests)
        self._request_limiter = RateLimiter(burst_s=1.0)
        self.dropped_requests = 0
        self._last_drop_warning = -math.inf
        self._sweeping: set[str] = set()  # discovery object ids of removed devices being cleared right now
        self._selfcheck_token = b""  # payload of the self-check request in flight (see _selfcheck_loop)
        self._selfcheck_back = asyncio.Event()
        self.selfcheck_failures = 0

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def run(self) -> None:
        backoff = Backoff(initial_s=0.5, cap_s=15.0)
        client = build_client(self.cfg, f"asicrc-{self.topics.node}", self.topics.status,
                              max_packet_bytes=self.cfg.max_request_bytes + PACKET_OVERHEAD_BYTES)
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
                           tg.create_task(self._event_loop(client)), tg.create_task(self._sweep_removed(client)),
                           tg.create_task(self._selfcheck_loop(client))]
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
        self._published.clear()
        await self._publish_states(client)

    # ---- publishing ------------------------------------------------------------------------------------
    async def _publish_states(self, client: aiomqtt.Client) -> None:
        snap = self.get_snapshot()
        devices: dict[str, dict[str, Any]] = snap.get("devices", {})
        await client.publish(self.topics.info, dumps(self.get_info()), qos=1, retain=True)
        for gone in sorted(set(self._announced) - set(devices)):
            await self._retract(client, gone)
        for dev_id, dev in devices.items():
            # an unchanged device is not published again (its retained state stands): a fleet of thousands polled
            # every 10 s would otherwise cost thousands of publishes per telemetry interval for nothing new
            mark = _state_mark(dev)
            if self._published.get(dev_id) == mark and dev_id in self._announced:
                continue
            self._published[dev_id] = mark
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
        self._published.pop(device_id, None)

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

    # ---- request delivery self-check ------------------------------------------------------------------------
    async def _selfcheck_loop(self, client: aiomqtt.Client) -> None:
        """Every selfcheck_interval_s, a QoS 1 request to this node's own request topic; if it does not come back,
        the broker has stopped delivering requests to this session while keeping it alive (mosquitto 2.0.11
        counts each QoS 1 message it drops for exceeding our Maximum Packet Size against the 20 in flight, so 20
        oversized messages from anyone silence the node for good): drop the session and reconnect, which starts a
        fresh one. Costs one small message per interval."""
        while True:
            await asyncio.sleep(self.cfg.selfcheck_interval_s)
            self._selfcheck_token = uuid.uuid4().hex.encode()
            self._selfcheck_back.clear()
            await client.publish(self.topics.request(SELFCHECK_METHOD), self._selfcheck_token, qos=1)
            try:
                await asyncio.wait_for(self._selfcheck_back.wait(), SELFCHECK_TIMEOUT_S)
            except TimeoutError:
                self.selfcheck_failures += 1
                log.warning("mqtt: the broker stopped delivering this node's requests (its own check request did "
                            "not come back within %g s); reconnecting with a fresh session", SELFCHECK_TIMEOUT_S)
                raise aiomqtt.MqttError("request delivery stalled") from None

    def _selfcheck_arrived(self, msg: aiomqtt.Message) -> None:
        # anyone may publish on this topic: only our own token counts
        payload = msg.payload
        if self._selfcheck_token and isinstance(payload, (bytes, bytearray)) and payload == self._selfcheck_token:
            self._selfcheck_back.set()

    # ---- retained leftovers of removed devices -------------------------------------------------------------
    async def _sweep_removed(self, client: aiomqtt.Client) -> None:
        """Clear retained state and discovery of devices this node announced in an earlier run but no longer has
        (a restart with a smaller config): whatever discovery schema published them, every retained message under
        ``<prefix>/+/<object id>/#`` of such a device is overwritten with an empty retained payload."""
        states = f"{self.topics.root}/+/state"
        await self._subscribe_no_local(client, states)
        await asyncio.sleep(SWEEP_WINDOW_S)  # the broker sends retained messages right after the SUBACK
        await client.unsubscribe(states)
        if self._sweeping and self.cfg.discovery:
            await asyncio.sleep(SWEEP_WINDOW_S)
            for obj in sorted(self._sweeping):
                await client.unsubscribe(f"{self.cfg.discovery_prefix}/+/{obj}/#")
        self._sweeping.clear()

    async def _subscribe_no_local(self, client: aiomqtt.Client, topic: str) -> None:
        # v5: our own live publishes do not come back; 3.1.1 has no such option (they are ignored in _leftover)
        if self.cfg.protocol == "5":
            await client.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
        else:
            await client.subscribe(topic, qos=1)

    async def _leftover(self, client: aiomqtt.Client, topic: str, msg: aiomqtt.Message) -> bool:
        """Handle a message of the sweep; True if it was one."""
        device = self.topics.device_of_state(topic)
        if device is not None:
            current = set(self.get_snapshot().get("devices", {}))
            if msg.retain and msg.payload and device not in current and device not in self._announced:
                log.info("mqtt: clearing retained state and discovery of removed device %r", device)
                await client.publish(topic, b"", qos=1, retain=True)
                obj = discovery_id(self.topics, device)
                if self.cfg.discovery and obj not in self._sweeping and len(self._sweeping) < MAX_SWEPT_DEVICES:
                    self._sweeping.add(obj)
                    await self._subscribe_no_local(client, f"{self.cfg.discovery_prefix}/+/{obj}/#")
            return True
        parts = topic.split("/")
        if self.cfg.discovery and len(parts) >= 3 and parts[0] == self.cfg.discovery_prefix \
                and parts[2] in self._sweeping:
            if msg.retain and msg.payload:
                await client.publish(topic, b"", qos=1, retain=True)
            return True
        return False

    # ---- requests --------------------------------------------------------------------------------------
    async def _messages(self, client: aiomqtt.Client, tg: asyncio.TaskGroup) -> None:
        async for msg in client.messages:
            raise_if_cancelled()
            topic = str(msg.topic)
            if self.cfg.discovery and topic == f"{self.cfg.discovery_prefix}/status":
                if msg.payload == b"online":  # Home Assistant restarted: announce again
                    self._announced.clear()
                    self._published.clear()
                    self.state_changed()
                continue
            if self.cfg.discovery and msg.payload and self._is_legacy_config(topic):
                await client.publish(topic, b"", qos=1, retain=True)
                continue
            method = self.topics.method_of(topic)
            if method is None:
                await self._leftover(client, topic, msg)
                continue
            if msg.retain:
                continue
            if method == SELFCHECK_METHOD:
                self._selfcheck_arrived(msg)
                continue
            if not self._admit(method):
                continue
            self._inflight += 1
            tg.create_task(self._answer(client, method, msg))

    def _admit(self, method: str) -> bool:
        """Bounded work per stranger: at most max_concurrent_requests in flight and requests_per_s overall;
        the rest is dropped unanswered (answering a flood is what the flood wants), with a warning a minute."""
        if self._inflight < self.cfg.max_concurrent_requests and self._request_limiter.allow(
                "requests", self.cfg.requests_per_s):
            return True
        self.dropped_requests += 1
        now = time.monotonic()
        if now - self._last_drop_warning >= 60.0:
            self._last_drop_warning = now
            log.warning("mqtt: dropping requests (%d so far): more than %d in flight or %g per second "
                        "(mqtt.max_concurrent_requests / mqtt.requests_per_s)", self.dropped_requests,
                        self.cfg.max_concurrent_requests, self.cfg.requests_per_s)
        return False

    def _is_legacy_config(self, topic: str) -> bool:
        parts = topic.split("/")
        return (len(parts) == 5 and parts[1] == "sensor" and parts[2].startswith(f"asicrc_{self.topics.node}_")
                and topic in legacy_topics(self.cfg.discovery_prefix, self.topics,
                                           parts[2][len(f"asicrc_{self.topics.node}_"):]))

    async def _answer(self, client: aiomqtt.Client, method: str, msg: aiomqtt.Message) -> None:
        """Answer one request. Nothing a requester sends may end the session: every failure, including the
        publish of the answer itself, is caught here; only a lost connection propagates (and reconnects)."""
        try:
            topic, payload, props = await self._reply_for(method, msg)
            if topic is not None:
                await client.publish(topic, payload, qos=1, retain=False, properties=props)
        except aiomqtt.MqttCodeError as exc:
            if exc.rc == mqtt.MQTT_ERR_NO_CONN:
                raise
            log.warning("mqtt: reply to %s not sent: %s", _short(method), exc)
        except aiomqtt.MqttError:
            raise
        except Exception as exc:  # e.g. paho refusing a topic: never a traceback per hostile message
            log.warning("mqtt: reply to %s not sent: %s: %s", _short(method), type(exc).__name__, exc)
        finally:
            self._inflight -= 1

    async def _reply_for(self, method: str, msg: aiomqtt.Message) -> tuple[str | None, bytes, Properties | None]:
        """(reply topic or None to stay silent, payload, v5 properties) for one request."""
        props = msg.properties
        v5_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        # An unknown method with a name no client would use gets no answer: its response topic would be as long
        # and as odd as the request topic the stranger chose.
        topic: str | None = self.topics.response(method) if _plain_name(method) else None
        transaction: Any = None
        reply: dict[str, Any]
        try:
            params = decode_request(msg.payload, self.cfg.max_request_bytes)
            transaction = params.pop("transaction", None)
            reply_to = params.pop("reply_to", None)
            requested = v5_topic if v5_topic is not None else reply_to
            if requested is not None:
                topic = check_reply_topic(requested, self.cfg.reply_prefixes)
            async with asyncio.timeout(self.cfg.request_timeout_s):
                data = await self.api.handle(method, params)
            reply = {"status": "ok", "data": data}
        except RequestError as exc:
            reply = {"status": "error", "error": str(exc)}
        except TimeoutError:
            reply = {"status": "error", "error": f"{method} timed out after {self.cfg.request_timeout_s:g} s"}
        except Exception as exc:  # a handler bug must not kill the MQTT session
            log.exception("mqtt: request %s failed", _short(method))
            reply = {"status": "error", "error": f"{_short(method)} failed: {type(exc).__name__}: {exc}"}
        if transaction is not None:
            reply["transaction"] = transaction
        out_props = None
        if self.cfg.protocol == "5":
            out_props = Properties(PacketTypes.PUBLISH)
            out_props.ContentType = "application/json"
            if isinstance(correlation, (bytes, bytearray)):
                out_props.CorrelationData = bytes(correlation)
        return topic, dumps(reply), out_props


SELFCHECK_METHOD = "_selfcheck"  # a request method of its own: never answered, never reaches the Api
SELFCHECK_TIMEOUT_S = 10.0  # a request through a healthy local broker comes back in milliseconds
SWEEP_WINDOW_S = 2.0  # how long retained leftovers are collected after subscribing
MAX_SWEPT_DEVICES = 1000  # removed devices cleared per connect (bounded; the rest on the next connect)


def _plain_name(method: str) -> bool:
    return bool(re.fullmatch(NAME_PATTERN, method))


def _short(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def new_client_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
