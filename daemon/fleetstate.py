"""What the daemon knows about each device, folded from the event stream, and the immutable snapshot of it.

Only the event loop mutates `FleetState`; readers (Prometheus scrapes on their own thread, MQTT publishing,
queries) get `snapshot()`, a fresh plain dict the loop replaces as a whole, so no lock is needed.

Device liveness is defined here once (`liveness`), and every consumer reads it from the snapshot: a device is
*available* while its driver says it is online, its last poll succeeded, and that success is no older than
`stale_after_s`. An unavailable device's telemetry leaves the snapshot's ``telemetry`` (so metrics, MQTT state
and the ``telemetry`` query stop exporting last values as live); the last good values stay under
``last_good_telemetry`` with ``last_success_unix`` so their age is explicit.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from asicrc.drivers.events import POLL_DURATION_KEY, Event, Kind, Source
from asicrc.drivers.stratum.hashrate import poisson_interval

TWO_32 = 4294967296.0
HASHRATE_WINDOW_S = 300.0  # share-based hashrate estimate over the last 5 minutes
LIFECYCLE_STATES = frozenset({"online", "offline", "restarting", "stopped", "starting", "unreachable"})
IDENTITY_KEYS = frozenset({"model", "serial", "firmware", "chips"})
# The longest a driver waits for one poll reply (DeviceSpec.timeout_s default, plus connect slack).
POLL_REPLY_TIMEOUT_S = 5.0


@dataclass
class DeviceState:
    device_id: str
    model: str
    transport: str
    state: str = "starting"
    up: bool = False
    identity: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, Any] = field(default_factory=dict)
    telemetry_t_ns: int = 0
    shares: Counter[str] = field(default_factory=Counter)
    nonces: int = 0
    faults: int = 0
    last_fault: str = ""
    restarts: int = 0
    last_change: str = ""
    stratum_connected: bool = False
    last_poll_unix: float = 0.0
    poll_duration_s: float = 0.0
    poll_success: bool = False  # the driver's last poll succeeded (telemetry event) or failed (poll fault)
    last_success_ns: int = 0  # producer clock of the last successful poll (0 = never)
    last_success_unix: float = 0.0  # wall clock of the same moment, for exports (0 = never)
    # Simulated miners hash at modeled_rate / hash_scale (docs/sim.md), so their shares stand for hash_scale
    # times the work their difficulty says; 1.0 for real hardware.
    hash_scale: float = 1.0
    # Hashes one unit of share difficulty stands for: 2^32 on Bitcoin pools, 2^32/256 on LBRY pools
    # (LBRY pools scale Stratum difficulty by 256, see asicrc.drivers.stratum.lbry).
    hashes_per_difficulty: float = TWO_32
    version: int = 0  # bumped by every applied event
    # (t_s on the producer clock, assigned difficulty) of accepted shares inside the hashrate window
    _accepted: deque[tuple[float, float]] = field(default_factory=deque)
    _first_t_s: float | None = None

    def apply(self, ev: Event, wall_s: float) -> None:
        self.version += 1  # FleetState.refresh rebuilds this device's snapshot entry only when this moved
        kind = str(ev.kind)
        t_s = ev.t_ns / 1e9
        if kind == Kind.TELEMETRY:
            data = ev.data
            if POLL_DURATION_KEY in data:  # the poll's own timing, not a reading: kept beside the telemetry
                self.poll_duration_s = float(data[POLL_DURATION_KEY])
                self.last_poll_unix = wall_s
                data = {k: v for k, v in data.items() if k != POLL_DURATION_KEY}
            self.telemetry.update(data)
            self.telemetry_t_ns = ev.t_ns
            self.up = True
            self.poll_success = True
            self.last_success_ns = ev.t_ns
            self.last_success_unix = wall_s
        elif kind == Kind.SHARE:
            verdict = str(ev.data.get("verdict", "unknown"))
            self.shares[verdict] += 1
            if self._first_t_s is None:
                self._first_t_s = t_s
            if verdict == "accepted":
                self._accepted.append((t_s, float(ev.data.get("assigned_diff", 0.0) or 0.0)))
            self.up = True
        elif kind == Kind.NONCE:
            self.nonces += 1
            self.up = True
        elif kind == Kind.FAULT:
            self.faults += 1
            if ev.data.get("poll_failed"):
                self.poll_success = False
            if POLL_DURATION_KEY in ev.data:
                self.poll_duration_s = float(ev.data[POLL_DURATION_KEY])
                self.last_poll_unix = wall_s
            if self.state == "starting":  # never reached yet: say so rather than "starting" forever
                self.state = "unreachable"
            self.last_fault = f"{ev.data.get('reason', '')}: {ev.data.get('detail', '')}".strip(": ")
        elif kind == Kind.STATE and str(ev.source) == Source.STRATUM:
            # a pool connection opening/closing is not the device's state
            self.stratum_connected = ev.data.get("state") == "online"
        elif kind == Kind.STATE:
            state = str(ev.data.get("state", ""))
            if state in LIFECYCLE_STATES:
                self.state = state
                self.up = state == "online"
                if state != "online":
                    self.poll_success = False
            else:  # informational: setting-changed, thermal-*, ...
                self.last_change = state
            if state == "online":
                self.identity.update({k: v for k, v in ev.data.items() if k in IDENTITY_KEYS})

    def hashrate_estimate(self, now_s: float) -> dict[str, float] | None:
        """Hashrate from accepted shares (H = sum(diff)*2^32/T) with a 95% Poisson interval, or None."""
        while self._accepted and self._accepted[0][0] < now_s - HASHRATE_WINDOW_S:
            self._accepted.popleft()
        if self._first_t_s is None:
            return None
        span = min(HASHRATE_WINDOW_S, now_s - self._first_t_s)
        if span < 1.0:
            return None
        n = len(self._accepted)
        mean_diff = (sum(d for _, d in self._accepted) / n) if n else 0.0
        if n == 0 or mean_diff <= 0:
            return {"value": 0.0, "low": 0.0, "high": math.nan, "shares": 0.0, "window_s": span}
        scale = mean_diff * self.hashes_per_difficulty * self.hash_scale / span
        lo, hi = poisson_interval(n)
        return {"value": n * scale, "low": lo * scale, "high": hi * scale, "shares": float(n), "window_s": span,
                "hash_scale": self.hash_scale}


def stale_after_s(poll_interval_s: float) -> float:
    """How old the last successful poll may be before a device counts as down: three missed polls plus the
    longest a driver waits for one reply, so one slow or lost poll never flips availability."""
    return 3.0 * poll_interval_s + POLL_REPLY_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class Liveness:
    """Whether a device's numbers are live (the one definition metrics, MQTT, HA availability and queries use)."""

    available: bool  # online, last poll succeeded, and that success is fresh
    poll_success: bool
    last_success_unix: float | None  # wall clock of the last successful poll, None = never
    last_success_age_s: float | None  # producer-clock seconds since then, None = never


def liveness(st: DeviceState, now_ns: int, stale_after: float) -> Liveness:
    if not st.last_success_ns:
        return Liveness(False, False, None, None)
    age_s = max(0.0, (now_ns - st.last_success_ns) / 1e9)
    fresh = age_s <= stale_after
    available = st.state == "online" and st.poll_success and fresh
    return Liveness(available, st.poll_success and fresh, st.last_success_unix, age_s)


class FleetState:
    def __init__(self, node_id: str, now_ns: Any = time.monotonic_ns, poll_interval_s: float = 2.0,
                 wall_s: Any = time.time) -> None:
        self.node_id = node_id
        self.devices: dict[str, DeviceState] = {}
        self.started_unix = time.time()
        self.stale_after_s = stale_after_s(poll_interval_s)
        self._now_ns = now_ns
        self._wall_s = wall_s
        self.events_total: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}  # loop lag, stratum, reservoir, tpf, mqtt: set by their owners
        self._snapshot: dict[str, Any] = {}
        # device -> (what its entry was built from, the entry): a fleet of thousands rebuilds only the devices
        # that changed since the last refresh; the others get a copy with their time-dependent fields updated
        self._entries: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}

    def add_device(self, device_id: str, model: str, transport: str) -> DeviceState:
        st = self.devices.get(device_id)
        if st is None or st.model != model or st.transport != transport:
            st = DeviceState(device_id, model, transport)
            self.devices[device_id] = st
        return st

    def remove_device(self, device_id: str) -> None:
        self.devices.pop(device_id, None)

    def apply(self, ev: Event) -> None:
        self.events_total[str(ev.kind)] += 1
        st = self.devices.get(ev.device)
        if st is not None:
            st.apply(ev, self._wall_s())

    def refresh(self) -> dict[str, Any]:
        """Rebuild the snapshot (called on the loop on a timer) and return it."""
        now_ns = self._now_ns()
        now_s = now_ns / 1e9
        devices = {}
        entries: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        for dev_id, st in self.devices.items():
            live = liveness(st, now_ns, self.stale_after_s)
            key = (id(st), st.version, st.model, st.transport, st.state, st.restarts, st.last_fault, st.stratum_connected,
                   live.available, live.poll_success)
            cached = self._entries.get(dev_id)
            if cached is not None and cached[0] == key:
                entry = {**cached[1]}
            else:
                entry = self._entry(dev_id, st, live)
            entries[dev_id] = (key, entry)
            # fields that move with time alone, refreshed on every snapshot
            entry["last_success_age_s"] = live.last_success_age_s
            entry["telemetry_age_s"] = (now_s - st.telemetry_t_ns / 1e9) if st.telemetry_t_ns else None
            entry["last_poll_unix"] = st.last_poll_unix
            entry["poll_duration_s"] = st.poll_duration_s
            entry["hashrate_estimate"] = st.hashrate_estimate(now_s) if st._first_t_s is not None else None
            devices[dev_id] = entry
        self._entries = entries
        self._snapshot = {
            "node": self.node_id,
            "started_unix": self.started_unix,
            "uptime_s": time.time() - self.started_unix,
            "events_total": dict(self.events_total),
            "devices": devices,
            **{k: v for k, v in self.extra.items()},
        }
        return self._snapshot

    @staticmethod
    def _entry(dev_id: str, st: DeviceState, live: Liveness) -> dict[str, Any]:
        return {
            "device": dev_id,
            "model": st.model,
            "transport": st.transport,
            "state": st.state,
            "up": live.available,
            "available": live.available,
            "stale": not live.available and bool(st.telemetry),
            "identity": dict(st.identity),
            # a dead device's last values are not live: they leave `telemetry` and stay, marked, here
            "telemetry": dict(st.telemetry) if live.available else {},
            "last_good_telemetry": dict(st.telemetry),
            "last_success_unix": live.last_success_unix,
            "shares": dict(st.shares),
            "nonces": st.nonces,
            "faults": st.faults,
            "last_fault": st.last_fault,
            "restarts": st.restarts,
            "last_change": st.last_change,
            "stratum_connected": st.stratum_connected,
            "poll_success": live.poll_success,
        }

    def snapshot(self) -> dict[str, Any]:
        """The last snapshot built by `refresh` (safe to read from any thread)."""
        return self._snapshot
