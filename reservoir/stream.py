"""Live reservoir features for the daemon: windows the shared event stream and keeps the latest state per device.

``FeatureStream(fanout, clock, window_s, record_dir)``: ``await run()`` subscribes to the FanOut and, every
``window_s`` of clock time, turns each device's events of that window into one feature row (the same
``extract_features`` the NARMA pipeline uses; the previous window's events are included so inter-arrival times
and telemetry deltas cross the boundary). ``report()`` returns the latest row per device; ``stop()`` ends the
loop and flushes the recording. With ``record_dir`` the raw events and window boundaries are written every
``flush_windows`` windows as ``stream-<first window>.npz`` in the recording format of asicrc.reservoir.recording
(``ev__*`` columns plus ``bounds_ns``), so a live session can be analysed offline like any run.

State is bounded by configuration, never by what strangers send: with ``devices`` (the daemon passes its
configured device ids) events of any other device id are dropped before they cost anything; without it at most
``max_devices`` ids are tracked (the least recently seen make room). A device with no event for
``evict_after_windows`` windows is forgotten (its features, carried telemetry and history), so ids that come once
and leave do not cost CPU every window forever. Events without a device id (e.g. a pool connection that never
authorized) are never tracked. ``report()["ignored_events"]`` counts what was dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import Event, FanOut, Subscription

from .eventcols import events_to_columns
from .features import extract_features
from .recording import EV_PREFIX

STREAM_KINDS = {"share", "nonce", "telemetry"}
DEFAULT_MAX_DEVICES = 256
DEFAULT_EVICT_AFTER_WINDOWS = 300


class FeatureStream:
    def __init__(self, fanout: FanOut, clock: Clock = REAL_TIME, window_s: float = 1.0,
                 record_dir: str | Path | None = None, flush_windows: int = 300,
                 devices: Collection[str] | Callable[[], Collection[str]] | None = None,
                 max_devices: int = DEFAULT_MAX_DEVICES,
                 evict_after_windows: int = DEFAULT_EVICT_AFTER_WINDOWS) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if flush_windows < 1:
            raise ValueError(f"flush_windows must be >= 1, got {flush_windows}")
        if max_devices < 1 or evict_after_windows < 1:
            raise ValueError(f"max_devices and evict_after_windows must be >= 1, got {max_devices}, "
                             f"{evict_after_windows}")
        # a callable is asked every window (devices added or removed at run time); a collection is fixed
        self._devices = devices
        self.max_devices = max_devices
        self.evict_after_windows = evict_after_windows
        self.ignored_events = 0
        self._last_seen: OrderedDict[str, int] = OrderedDict()  # device -> window it last had events, LRU order
        self.fanout = fanout
        self.clock = clock
        self.window_s = float(window_s)
        self.record_dir = Path(record_dir) if record_dir else None
        self.flush_windows = flush_windows
        self.windows = 0
        self.latest: dict[str, dict[str, float]] = {}
        self.files: list[str] = []
        self._sub: Subscription | None = None
        self._stop = asyncio.Event()
        self._prev: dict[str, list[Event]] = {}  # per device: events of the previous window
        self._last_telemetry: dict[str, Event] = {}
        self._pending: list[Event] = []  # not yet written to the recording
        self._pending_bounds: list[int] = []

    async def run(self) -> None:
        self._sub = self.fanout.subscribe(maxsize=100_000, kinds=STREAM_KINDS)
        try:
            start = self.clock.now_ns()
            step = round(self.window_s * 1e9)
            k = 0
            while not self._stop.is_set():
                k += 1
                with contextlib.suppress(TimeoutError):
                    wait = (start + k * step - self.clock.now_ns()) / 1e9
                    await asyncio.wait_for(self._stop.wait(), timeout=self.clock.wall_seconds(max(wait, 0.0)))
                    break  # stop() was called
                self._close_window(start + (k - 1) * step, start + k * step)
        finally:
            self._flush()
            self._sub.close()

    async def stop(self) -> None:
        self._stop.set()

    def _close_window(self, t0: int, t1: int) -> None:
        assert self._sub is not None
        batch = self._sub.get_nowait_all()
        allowed = self._devices() if callable(self._devices) else self._devices
        by_device: dict[str, list[Event]] = {}
        for e in batch:
            if not e.device or (allowed is not None and e.device not in allowed):
                self.ignored_events += 1
                continue
            by_device.setdefault(e.device, []).append(e)
        self._track(by_device, allowed)
        for device in set(by_device) | set(self._prev):
            events = by_device.get(device, [])
            history = self._prev.get(device, [])
            carried = [self._last_telemetry[device]] if device in self._last_telemetry else []
            cols = events_to_columns(carried + history + events)
            fm = extract_features(cols, np.array([t0 - (t1 - t0), t0, t1], dtype=np.int64))
            self.latest[device] = {name.removesuffix("@v0"): float(v) for name, v in zip(fm.names, fm.values[-1],
                                                                                       strict=True)}
            self._prev[device] = events
            for e in events:
                if str(e.kind) == "telemetry":
                    self._last_telemetry[device] = e
        self.windows += 1
        if self.record_dir is not None:
            self._pending.extend(e for events in by_device.values() for e in events)
            if not self._pending_bounds:
                self._pending_bounds.append(t0)
            self._pending_bounds.append(t1)
            if len(self._pending_bounds) > self.flush_windows:
                self._flush()

    def _track(self, by_device: dict[str, list[Event]], allowed: Collection[str] | None) -> None:
        """Note who spoke this window; forget devices gone for evict_after_windows (or removed from `allowed`),
        and the least recently seen beyond max_devices."""
        for device in by_device:
            self._last_seen[device] = self.windows
            self._last_seen.move_to_end(device)
        gone = [d for d, w in self._last_seen.items()
                if self.windows - w >= self.evict_after_windows or (allowed is not None and d not in allowed)]
        over = len(self._last_seen) - len(gone) - self.max_devices
        if over > 0:
            gone += [d for d in self._last_seen if d not in gone][:over]
        for device in gone:
            self._forget(device)
            self.ignored_events += len(by_device.pop(device, ()))

    def _forget(self, device: str) -> None:
        self._last_seen.pop(device, None)
        self._prev.pop(device, None)
        self._last_telemetry.pop(device, None)
        self.latest.pop(device, None)

    def _flush(self) -> None:
        if self.record_dir is None or len(self._pending_bounds) < 2:
            return
        self.record_dir.mkdir(parents=True, exist_ok=True)
        first = self.windows - (len(self._pending_bounds) - 1)
        path = self.record_dir / f"stream-{first:08d}.npz"
        cols = events_to_columns(self._pending)
        arrays: dict[str, Any] = {EV_PREFIX + k: v for k, v in cols.items()}
        arrays.update(bounds_ns=np.array(self._pending_bounds, dtype=np.int64), window_s=self.window_s,
                      written_unix=time.time())
        np.savez_compressed(path, **arrays)
        self.files.append(str(path))
        self._pending = []
        self._pending_bounds = []

    def report(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "windows": self.windows,
                "dropped": self._sub.dropped if self._sub is not None else 0, "ignored_events": self.ignored_events,
                "devices": {d: dict(f) for d, f in self.latest.items()}, "recordings": list(self.files)}
