"""What the daemon knows about each device, folded from the event stream, and the immutable snapshot of it.

Only the event loop mutates `FleetState`; readers (Prometheus scrapes on their own thread, MQTT publishing,
queries) get `snapshot()`, a fresh plain dict the loop replaces as a whole, so no lock is needed.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from asicrc.drivers.events import Event, Kind, Source
from asicrc.drivers.stratum.hashrate import poisson_interval

TWO_32 = 4294967296.0
HASHRATE_WINDOW_S = 300.0
LIFECYCLE_STATES = frozenset({"online", "offline", "restarting", "stopped", "starting", "unreachable"})
IDENTITY_KEYS = frozenset({"model", "serial", "firmware", "chips"})  # share-based hashrate estimate over the last 5 minutes


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
    poll_success: bool = False
    # Simulated miners hash at modeled_rate / hash_scale (docs/sim.md), so their shares stand for hash_scale
    # times the work their difficulty says; 1.0 for real hardware.
    hash_scale: float = 1.0
    # Hashes one unit of share difficulty stands for: 2^32 on Bitcoin pools, 2^32/256 on LBRY pools
    # (LBRY pools scale Stratum difficulty by 256, see asicrc.drivers.stratum.lbry).
    hashes_per_difficulty: float = TWO_32
    # (t_s on the producer clock, assigned difficulty) of accepted shares inside the hashrate window
    _accepted: deque[tuple[float, float]] = field(default_factory=deque)
    _first_t_s: float | None = None

    def apply(self, ev: Event) -> None:
        kind = str(ev.kind)
        t_s = ev.t_ns / 1e9
        if kind == Kind.TELEMETRY:
            self.telemetry.update(ev.data)
            self.telemetry_t_ns = ev.t_ns
            self.up = True
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


class FleetState:
    def __init__(self, node_id: str, now_ns: Any = time.monotonic_ns) -> None:
        self.node_id = node_id
        self.devices: dict[str, DeviceState] = {}
        self.started_unix = time.time()
        self._now_ns = now_ns
        self.events_total: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}  # loop lag, stratum, reservoir, tpf, mqtt: set by their owners
        self._snapshot: dict[str, Any] = {}

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
            st.apply(ev)

    def refresh(self) -> dict[str, Any]:
        """Rebuild the snapshot (called on the loop on a timer) and return it."""
        now_s = self._now_ns() / 1e9
        devices = {}
        for dev_id, st in self.devices.items():
            devices[dev_id] = {
                "device": dev_id,
                "model": st.model,
                "transport": st.transport,
                "state": st.state,
                "up": st.up,
                "identity": dict(st.identity),
                "telemetry": dict(st.telemetry),
                "telemetry_age_s": (now_s - st.telemetry_t_ns / 1e9) if st.telemetry_t_ns else None,
                "shares": dict(st.shares),
                "nonces": st.nonces,
                "faults": st.faults,
                "last_fault": st.last_fault,
                "restarts": st.restarts,
                "last_change": st.last_change,
                "stratum_connected": st.stratum_connected,
                "last_poll_unix": st.last_poll_unix,
                "poll_duration_s": st.poll_duration_s,
                "poll_success": st.poll_success,
                "hashrate_estimate": st.hashrate_estimate(now_s),
            }
        self._snapshot = {
            "node": self.node_id,
            "started_unix": self.started_unix,
            "uptime_s": time.time() - self.started_unix,
            "events_total": dict(self.events_total),
            "devices": devices,
            **{k: v for k, v in self.extra.items()},
        }
        return self._snapshot

    def snapshot(self) -> dict[str, Any]:
        """The last snapshot built by `refresh` (safe to read from any thread)."""
        return self._snapshot
