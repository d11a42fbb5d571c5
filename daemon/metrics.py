"""Prometheus exposition: a custom collector over the fleet snapshot (served by asicrc.daemon.metrics_http).

A scrape reads the last snapshot the event loop built (`FleetState.snapshot`), so it never touches hardware
and never waits on the loop. Devices are polled on the daemon's own timer; `asicrc_last_poll_timestamp_seconds`
says how fresh each device's numbers are. Every series carries `node` so several daemons can share one
Prometheus without collisions.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("asicrc.metrics")

Snapshot = dict[str, Any]


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return float(x) if isinstance(x, bool) else None
    if isinstance(x, (int, float)) and math.isfinite(float(x)):
        return float(x)
    return None


def _or_nan(x: Any) -> float:
    n = _num(x)
    return math.nan if n is None else n


def _series(value: Any) -> list[tuple[str, float]]:
    """A telemetry value as (index label, number) pairs: scalars get index "0", lists one per element."""
    if isinstance(value, (list, tuple)):
        out = []
        for i, v in enumerate(value):
            n = _num(v)
            if n is not None:
                out.append((str(i), n))
        return out
    n = _num(value)
    return [("0", n)] if n is not None else []


def _total(value: Any) -> float | None:
    if isinstance(value, (list, tuple)):
        nums = [n for n in (_num(v) for v in value) if n is not None]
        return sum(nums) if nums else None
    return _num(value)


try:
    VERSION = version("asicrc")
except PackageNotFoundError:  # running from a source tree without install
    VERSION = "0+unknown"

# (metric name, help, telemetry key, per-element label or None to sum/scale, scale factor)
TELEMETRY_GAUGES: tuple[tuple[str, str, str, str | None, float], ...] = (
    ("asicrc_hashrate_hashes_per_second", "Hashrate the device reports, hashes per second", "hashrate_hs", None, 1.0),
    ("asicrc_chip_temperature_celsius", "Chip temperature per sensor", "temp_chip_c", "sensor", 1.0),
    ("asicrc_board_temperature_celsius", "Board temperature per sensor", "temp_board_c", "sensor", 1.0),
    ("asicrc_ambient_temperature_celsius", "Ambient/inlet temperature", "ambient_c", "sensor", 1.0),
    ("asicrc_power_watts", "Electrical power the device reports", "power_w", None, 1.0),
    ("asicrc_fan_rpm", "Fan speed per fan, revolutions per minute", "fan_rpm", "fan", 1.0),
    ("asicrc_frequency_hertz", "Chip clock frequency per chain", "frequency_hz", "chain", 1.0),
    ("asicrc_core_voltage_volts", "Chip core voltage per chain", "core_voltage_v", "chain", 1.0),
)

# Names every exposition contains (tests and docs check against this list).
METRIC_NAMES = (
    "asicrc_build_info",
    "asicrc_device_info",
    "asicrc_device_up",
    *(name for name, *_ in TELEMETRY_GAUGES),
    "asicrc_share_hashrate_hashes_per_second",
    "asicrc_share_hashrate_lower_hashes_per_second",
    "asicrc_share_hashrate_upper_hashes_per_second",
    "asicrc_shares_total",
    "asicrc_nonces_total",
    "asicrc_hardware_errors_total",
    "asicrc_device_faults_total",
    "asicrc_device_restarts_total",
    "asicrc_poll_success",
    "asicrc_poll_duration_seconds",
    "asicrc_last_poll_timestamp_seconds",
    "asicrc_device_last_success_timestamp",
    "asicrc_stratum_connections",
    "asicrc_stratum_defences_total",
    "asicrc_reservoir_nrmse",
    "asicrc_reservoir_windows_total",
    "asicrc_tpf_gate_enabled",
    "asicrc_tpf_gate_p_value",
    "asicrc_event_loop_lag_seconds",
    "asicrc_events_total",
    "asicrc_fanout_dropped_events_total",
    "asicrc_mqtt_connected",
    "asicrc_uptime_seconds",
)

# the pool's defence counters (drivers/stratum server.stats keys): a fixed set, so the label stays bounded
STRATUM_DEFENCES = ("refused", "refused_per_ip", "evicted_pending", "evicted_pending_per_ip", "evicted_silent",
                    "handshake_timeouts", "idle_timeouts", "auth_failures", "worker_cap_refusals",
                    "accept_resource_errors")


class SnapshotCollector(Collector):
    def __init__(self, get_snapshot: Callable[[], Snapshot]) -> None:
        self._get = get_snapshot

    def describe(self) -> Iterable[Metric]:
        return []  # so registering does not call collect() before the loop has a snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._get() or {}
        node = str(snap.get("node", ""))
        devices: dict[str, dict[str, Any]] = snap.get("devices", {})
        yield from self._node_metrics(node, snap)
        yield from self._device_metrics(node, devices)

    def _node_metrics(self, node: str, snap: Snapshot) -> Iterator[Metric]:
        build = InfoMetricFamily("asicrc_build", "asicrc version running on this node", labels=["node"])
        build.add_metric([node], {"version": VERSION})
        yield build
        g = GaugeMetricFamily("asicrc_uptime_seconds", "Seconds since the daemon started", labels=["node"])
        g.add_metric([node], float(snap.get("uptime_s", 0.0)))
        yield g
        g = GaugeMetricFamily("asicrc_event_loop_lag_seconds",
                              "Extra delay of a 0.5 s timer on the event loop (last sample)", labels=["node"])
        g.add_metric([node], float(snap.get("loop_lag_s", 0.0)))
        yield g
        c = CounterMetricFamily("asicrc_events", "Events received from devices by kind", labels=["node", "kind"])
        for kind in ("share", "nonce", "telemetry", "fault", "state"):
            c.add_metric([node, kind], float(snap.get("events_total", {}).get(kind, 0)))
        yield c
        c = CounterMetricFamily("asicrc_fanout_dropped_events",
                                "Events dropped because a consumer queue was full", labels=["node"])
        c.add_metric([node], float(snap.get("fanout", {}).get("dropped", 0)))
        yield c
        g = GaugeMetricFamily("asicrc_mqtt_connected", "1 while connected to the MQTT broker", labels=["node"])
        g.add_metric([node], 1.0 if snap.get("mqtt", {}).get("connected") else 0.0)
        yield g
        g = GaugeMetricFamily("asicrc_stratum_connections", "Miners connected to the built-in Stratum server",
                              labels=["node"])
        g.add_metric([node], float(snap.get("stratum", {}).get("connections", 0) or 0))
        yield g
        c = CounterMetricFamily("asicrc_stratum_defences",
                                "Connections the built-in pools refused, evicted or timed out, refused authorizations "
                                "and accept() resource failures, by reason (docs/stratum.md, Limits)",
                                labels=["node", "reason"])
        for reason in STRATUM_DEFENCES:
            c.add_metric([node, reason], float(snap.get("stratum", {}).get(reason, 0) or 0))
        yield c
        res = snap.get("reservoir", {}) or {}
        g = GaugeMetricFamily("asicrc_reservoir_nrmse",
                              "NRMSE of the last reservoir run on its held-out test split (NaN before the first run)",
                              labels=["node", "task"])
        g.add_metric([node, str(res.get("task", "narma10"))], _or_nan(res.get("nrmse")))
        yield g
        c = CounterMetricFamily("asicrc_reservoir_windows", "Feature windows the reservoir stream produced",
                                labels=["node"])
        c.add_metric([node], float(res.get("windows", 0) or 0))
        yield c
        tpf = snap.get("tpf", {}) or {}
        g = GaugeMetricFamily("asicrc_tpf_gate_enabled",
                              "1 if the TPF gate filters work (held-out advantage significant), else 0",
                              labels=["node"])
        g.add_metric([node], 1.0 if tpf.get("enabled") else 0.0)
        yield g
        g = GaugeMetricFamily("asicrc_tpf_gate_p_value", "p-value of the evidence the TPF gate holds (NaN if none)",
                              labels=["node"])
        g.add_metric([node], _or_nan(tpf.get("p_value")))
        yield g

    def _device_metrics(self, node: str, devices: dict[str, dict[str, Any]]) -> Iterator[Metric]:
        lbl = ["node", "device"]
        info = InfoMetricFamily("asicrc_device", "Static facts about a device", labels=lbl)
        up = GaugeMetricFamily("asicrc_device_up", "1 if the device is online and its last poll succeeded recently",
                               labels=lbl)
        share_hr = GaugeMetricFamily("asicrc_share_hashrate_hashes_per_second",
                                     "Hashrate estimated from accepted shares over the last 5 minutes", labels=lbl)
        share_lo = GaugeMetricFamily("asicrc_share_hashrate_lower_hashes_per_second",
                                     "Lower bound of the 95% Poisson interval of the share hashrate", labels=lbl)
        share_hi = GaugeMetricFamily("asicrc_share_hashrate_upper_hashes_per_second",
                                     "Upper bound of the 95% Poisson interval of the share hashrate", labels=lbl)
        shares = CounterMetricFamily("asicrc_shares", "Shares submitted, by verdict", labels=[*lbl, "verdict"])
        nonces = CounterMetricFamily("asicrc_nonces", "Nonce frames received from serial chains", labels=lbl)
        hw = CounterMetricFamily("asicrc_hardware_errors", "Hardware errors the device reports", labels=lbl)
        faults = CounterMetricFamily("asicrc_device_faults", "Faults (disconnects, refusals, errors)", labels=lbl)
        restarts = CounterMetricFamily("asicrc_device_restarts", "Times the supervisor restarted the device task",
                                       labels=lbl)
        poll_ok = GaugeMetricFamily("asicrc_poll_success", "1 if the last telemetry poll succeeded", labels=lbl)
        poll_dur = GaugeMetricFamily("asicrc_poll_duration_seconds", "Duration of the last telemetry poll",
                                     labels=lbl)
        poll_ts = GaugeMetricFamily("asicrc_last_poll_timestamp_seconds",
                                    "Unix time of the last telemetry poll (the daemon polls on its own timer)",
                                    labels=lbl)
        last_ok = GaugeMetricFamily("asicrc_device_last_success_timestamp",
                                    "Unix time in seconds of the device's last successful poll (0 = never); "
                                    "telemetry gauges are left out while the device is down", labels=lbl)
        tele = {name: GaugeMetricFamily(name, help_, labels=[*lbl, sub] if sub else lbl)
                for name, help_, _, sub, _ in TELEMETRY_GAUGES}
        for dev_id, d in sorted(devices.items()):
            key = [node, dev_id]
            ident = d.get("identity", {})
            info.add_metric(key, {"model": str(d.get("model", "")), "transport": str(d.get("transport", "")),
                                  "firmware": str(ident.get("firmware", "")), "serial": str(ident.get("serial", ""))})
            up.add_metric(key, 1.0 if d.get("up") else 0.0)
            est = d.get("hashrate_estimate") or {}
            share_hr.add_metric(key, _or_nan(est.get("value")))
            share_lo.add_metric(key, _or_nan(est.get("low")))
            share_hi.add_metric(key, _or_nan(est.get("high")))
            share_counts = d.get("shares", {})
            for verdict in sorted({"accepted", *share_counts}):
                shares.add_metric([*key, verdict], float(share_counts.get(verdict, 0)))
            nonces.add_metric(key, float(d.get("nonces", 0)))
            telemetry = d.get("telemetry", {})
            hw.add_metric(key, _total(telemetry.get("hw_errors")) or 0.0)
            faults.add_metric(key, float(d.get("faults", 0)))
            restarts.add_metric(key, float(d.get("restarts", 0)))
            poll_ok.add_metric(key, 1.0 if d.get("poll_success") else 0.0)
            poll_dur.add_metric(key, float(d.get("poll_duration_s", 0.0)))
            poll_ts.add_metric(key, float(d.get("last_poll_unix", 0.0)))
            last_ok.add_metric(key, float(d.get("last_success_unix") or 0.0))
            for name, _, tkey, sub, scale in TELEMETRY_GAUGES:
                value = telemetry.get(tkey)
                if sub is None:
                    total = _total(value)
                    if total is not None:
                        tele[name].add_metric(key, total * scale)
                else:
                    for idx, v in _series(value):
                        tele[name].add_metric([*key, idx], v * scale)
        yield from (info, up, share_hr, share_lo, share_hi, shares, nonces, hw, faults, restarts,
                    poll_ok, poll_dur, poll_ts, last_ok, *tele.values())


# ---- fast exposition --------------------------------------------------------------------------------------------
# A fleet of 10 000 devices is ~240 000 samples. prometheus-client builds a Sample tuple and a label dict per
# sample and formats each one generically (over 1 s of CPU, holding the GIL the event loop needs); the device
# families are therefore written here directly as text, one device's block of lines per family at a time, kept
# as bytes until that device's snapshot entry changes (a scrape joins the blocks). SnapshotCollector above stays the reference: a test
# checks that both expose the same families, labels and values (tests/daemon/test_daemon_metrics.py).

def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _header(out: list[str], name: str, help_: str, kind: str) -> None:
    doc = help_.replace("\\", "\\\\").replace("\n", "\\n")
    out.append(f"# HELP {name} {doc}\n# TYPE {name} {kind}\n")


def _label_pieces(extra: str, device: str, node: str) -> tuple[str, str]:
    """The label text around one extra label's value, names sorted as prometheus-client writes them:
    (before, after) such that before + value + after is e.g. `{chain="0",device="d",node="n"}`."""
    values = {"device": device, "node": node, extra: "\x00"}
    text = "{" + ",".join(f'{k}="{values[k]}"' for k in sorted(values)) + "}"
    before, after = text.split("\x00")
    return before, after


def _numbers(value: Any) -> list[tuple[int, float]]:
    """(index, number) for each finite number in a per-sensor list (or a scalar as index 0)."""
    if not isinstance(value, (list, tuple)):
        value = (value,)
    out = []
    for i, v in enumerate(value):
        t = type(v)
        if t is float or t is int:  # the common case, without the isinstance chain (bool is neither)
            if v - v == 0:  # finite
                out.append((i, float(v)))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append((i, float(v)))
    return out


class _Labels:
    """Per-device label text, built once per device and reused by every scrape (bounded by the configured
    devices: the cache is rebuilt from scratch when it holds more entries than the snapshot has devices)."""

    def __init__(self) -> None:
        self.node = ""
        self.keys: dict[str, str] = {}  # device -> '{device="d",node="n"}'
        self.pieces: dict[str, dict[str, tuple[str, str]]] = {}  # extra label -> device -> (before, after)
        self.esc: dict[str, str] = {}
        self.info: dict[str, tuple[tuple[str, str, str, str], str]] = {}  # device -> (its facts, info line)

    def reset_if_stale(self, node: str, devices: int) -> None:
        if node != self.node or len(self.keys) > 2 * devices + 16:
            for cache in (self.keys, self.pieces, self.esc, self.info):
                cache.clear()
            self.node = node

    def key(self, dev_id: str) -> str:
        k = self.keys.get(dev_id)
        if k is None:
            k = self.keys[dev_id] = f'{{device="{self.escaped(dev_id)}",node="{_esc(self.node)}"}}'
        return k

    def escaped(self, dev_id: str) -> str:
        e = self.esc.get(dev_id)
        if e is None:
            e = self.esc[dev_id] = _esc(dev_id)
        return e

    def piece(self, extra: str, dev_id: str) -> tuple[str, str]:
        by_device = self.pieces.setdefault(extra, {})
        pc = by_device.get(dev_id)
        if pc is None:
            pc = by_device[dev_id] = _label_pieces(extra, self.escaped(dev_id), _esc(self.node))
        return pc

    def info_line(self, dev_id: str, d: dict[str, Any]) -> str:
        ident = d.get("identity", {})
        facts = (str(d.get("model", "")), str(d.get("transport", "")), str(ident.get("firmware", "")),
                 str(ident.get("serial", "")))
        cached = self.info.get(dev_id)
        if cached is not None and cached[0] == facts:
            return cached[1]
        model, transport, firmware, serial = (_esc(f) for f in facts)
        line = (f'asicrc_device_info{{device="{self.escaped(dev_id)}",firmware="{firmware}",model="{model}",'
                f'node="{_esc(self.node)}",serial="{serial}",transport="{transport}"}} 1.0\n')
        self.info[dev_id] = (facts, line)
        return line


# The device families in exposition order (SnapshotCollector._device_metrics' order): (name, help, type).
_DEVICE_FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("asicrc_device_info", "Static facts about a device", "gauge"),
    ("asicrc_device_up", "1 if the device is online and its last poll succeeded recently", "gauge"),
    ("asicrc_share_hashrate_hashes_per_second", "Hashrate estimated from accepted shares over the last 5 minutes",
     "gauge"),
    ("asicrc_share_hashrate_lower_hashes_per_second", "Lower bound of the 95% Poisson interval of the share hashrate",
     "gauge"),
    ("asicrc_share_hashrate_upper_hashes_per_second", "Upper bound of the 95% Poisson interval of the share hashrate",
     "gauge"),
    ("asicrc_shares_total", "Shares submitted, by verdict", "counter"),
    ("asicrc_nonces_total", "Nonce frames received from serial chains", "counter"),
    ("asicrc_hardware_errors_total", "Hardware errors the device reports", "counter"),
    ("asicrc_device_faults_total", "Faults (disconnects, refusals, errors)", "counter"),
    ("asicrc_device_restarts_total", "Times the supervisor restarted the device task", "counter"),
    ("asicrc_poll_success", "1 if the last telemetry poll succeeded", "gauge"),
    ("asicrc_poll_duration_seconds", "Duration of the last telemetry poll", "gauge"),
    ("asicrc_last_poll_timestamp_seconds", "Unix time of the last telemetry poll (the daemon polls on its own timer)",
     "gauge"),
    ("asicrc_device_last_success_timestamp",
     "Unix time in seconds of the device's last successful poll (0 = never); telemetry gauges are left out while "
     "the device is down", "gauge"),
    *((name, help_, "gauge") for name, help_, *_ in TELEMETRY_GAUGES),
)
_ESTIMATE_COLUMNS = (2, 3, 4)  # share hashrate: moves with time (the 5-minute window), not only with events
_EVENT_COLUMNS = tuple(j for j in range(len(_DEVICE_FAMILIES)) if j not in _ESTIMATE_COLUMNS)
_EMPTY = b""
_UNSEEN = ("unseen",)
# the snapshot entry fields the device lines are written from (besides the share-hashrate estimate)
_OBJECT_FIELDS = ("telemetry", "identity", "shares")
_SCALAR_FIELDS = ("up", "poll_success", "nonces", "faults", "restarts", "last_success_unix", "last_poll_unix",
                  "poll_duration_s", "model", "transport")
_ENTRY_OBJECTS = operator.itemgetter(*_OBJECT_FIELDS)
_ENTRY_SCALARS = operator.itemgetter(*_SCALAR_FIELDS)


def _family_header(name: str, help_: str, kind: str) -> bytes:
    out: list[str] = []
    _header(out, name, help_, kind)
    return out[0].encode()


def _device_lines(labels: _Labels, dev_id: str, d: dict[str, Any]) -> list[bytes]:
    """One device's lines of each device family (the share-hashrate columns left empty: `_estimate_lines`).
    Values are written with repr(): Prometheus parsers (Go's ParseFloat, prometheus-client) read nan/inf."""
    k = labels.key(dev_id)
    counts = d.get("shares", {})
    before, after = labels.piece("verdict", dev_id)
    if not counts:
        shares = f"asicrc_shares_total{before}accepted{after} 0.0\n"
    else:
        shares = "".join([f"asicrc_shares_total{before}{_esc(v)}{after} {float(counts.get(v, 0))!r}\n"
                          for v in sorted({"accepted", *counts})])
    tel = d.get("telemetry") or {}
    hw = _total(tel.get("hw_errors")) or 0.0
    lines = [
        labels.info_line(dev_id, d).encode(),
        f"asicrc_device_up{k} {'1.0' if d.get('up') else '0.0'}\n".encode(),
        _EMPTY, _EMPTY, _EMPTY,
        shares.encode(),
        f"asicrc_nonces_total{k} {float(d.get('nonces', 0))!r}\n".encode(),
        f"asicrc_hardware_errors_total{k} {hw!r}\n".encode(),
        f"asicrc_device_faults_total{k} {float(d.get('faults', 0))!r}\n".encode(),
        f"asicrc_device_restarts_total{k} {float(d.get('restarts', 0))!r}\n".encode(),
        f"asicrc_poll_success{k} {'1.0' if d.get('poll_success') else '0.0'}\n".encode(),
        f"asicrc_poll_duration_seconds{k} {float(d.get('poll_duration_s', 0.0))!r}\n".encode(),
        f"asicrc_last_poll_timestamp_seconds{k} {float(d.get('last_poll_unix', 0.0))!r}\n".encode(),
        f"asicrc_device_last_success_timestamp{k} {float(d.get('last_success_unix') or 0.0)!r}\n".encode(),
    ]
    for name, _, tkey, sub, scale in TELEMETRY_GAUGES:
        value = tel.get(tkey)
        if value is None:
            lines.append(_EMPTY)
        elif sub is None:
            total = _total(value)
            lines.append(_EMPTY if total is None else f"{name}{k} {total * scale!r}\n".encode())
        else:
            nums = _numbers(value)
            if not nums:
                lines.append(_EMPTY)
                continue
            before, after = labels.piece(sub, dev_id)
            lines.append("".join([f"{name}{before}{i}{after} {v * scale!r}\n" for i, v in nums]).encode())
    return lines


def _estimate_lines(key: str, est: dict[str, Any] | None) -> tuple[bytes, bytes, bytes]:
    if not est:
        return tuple(f"{name}{key} nan\n".encode() for name, _, _ in  # type: ignore[return-value]
                     _DEVICE_FAMILIES[2:5])
    return tuple(f"{name}{key} {_or_nan(est.get(field))!r}\n".encode()  # type: ignore[return-value]
                 for (name, _, _), field in zip(_DEVICE_FAMILIES[2:5], ("value", "low", "high"), strict=True))


class _DeviceColumns:
    """The device families as one column per family of per-device line blocks (bytes) in sorted device order.

    `update(snapshot)` rewrites only the blocks of devices whose snapshot entry changed (the entry's telemetry,
    identity and shares dicts are new objects whenever FleetState rebuilt it; its scalars are compared by value),
    so with updates between scrapes (MetricsServer's prepare tick) a scrape of 10 000 devices joins ~240 000
    cached byte strings instead of formatting them. Memory: one block per device and family, plus the joined body;
    the columns are rebuilt from scratch when the node or the set of devices changes (start, reload)."""

    def __init__(self) -> None:
        self.labels = _Labels()
        self.node: str | None = None
        self.pos: dict[str, int] = {}
        self.columns: list[list[bytes]] = [[] for _ in _DEVICE_FAMILIES]
        self.keys: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}  # device -> what its lines come from
        self.estimates: dict[str, tuple[Any, ...] | None] = {}  # device -> the estimate its columns show
        self.snapshot: Snapshot | None = None
        self.body: bytes | None = None  # the joined columns, until a block changes
        self.headers = [_family_header(*fam) for fam in _DEVICE_FAMILIES]

    def update(self, snap: Snapshot) -> int:
        """Rewrite the blocks of the devices that changed in `snap`; returns how many were rewritten."""
        if snap is self.snapshot:
            return 0
        self.snapshot = snap
        node = str(snap.get("node", ""))
        devices: dict[str, dict[str, Any]] = snap.get("devices", {})
        if node != self.node or devices.keys() != self.pos.keys():
            self._reset(node, sorted(devices))
        self.labels.reset_if_stale(node, len(devices))
        cols, keys, estimates, pos = self.columns, self.keys, self.estimates, self.pos
        written = 0
        for dev_id, d in devices.items():
            p = pos[dev_id]
            try:  # C-level lookups: this loop runs over every device of every snapshot
                objects, scalars = _ENTRY_OBJECTS(d), _ENTRY_SCALARS(d)
            except KeyError:  # a hand-built entry without some fields: the writer's defaults apply
                objects = tuple(d.get(k) for k in _OBJECT_FIELDS)
                scalars = tuple(d.get(k) for k in _SCALAR_FIELDS)
            old = keys.get(dev_id)
            # the dicts by identity (FleetState builds new ones whenever it rebuilds an entry; equal-comparing
            # dicts could hide a bool that became an int), the scalars by value
            if (old is None or old[1] != scalars or old[0][0] is not objects[0] or old[0][1] is not objects[1]
                    or old[0][2] is not objects[2]):
                keys[dev_id] = (objects, scalars)
                lines = _device_lines(self.labels, dev_id, d)
                for j in _EVENT_COLUMNS:
                    cols[j][p] = lines[j]
                written += 1
            est = d.get("hashrate_estimate") or None
            seen = None if est is None else (est.get("value"), est.get("low"), est.get("high"))
            if estimates.get(dev_id, _UNSEEN) != seen:
                estimates[dev_id] = seen
                for j, line in zip(_ESTIMATE_COLUMNS, _estimate_lines(self.labels.key(dev_id), est), strict=True):
                    cols[j][p] = line
                written += 1
        if written:
            self.body = None
        return written

    def _reset(self, node: str, ids: list[str]) -> None:
        self.labels.reset_if_stale(node, len(ids))
        self.node = node
        self.pos = {dev_id: i for i, dev_id in enumerate(ids)}
        self.columns = [[_EMPTY] * len(ids) for _ in _DEVICE_FAMILIES]
        self.keys = {}
        self.estimates = {}
        self.body = None

    def joined(self) -> bytes:
        if self.body is None:
            parts: list[bytes] = []
            for header, column in zip(self.headers, self.columns, strict=True):
                parts.append(header)
                parts += column
            self.body = b"".join(parts)
        return self.body


def _device_text(node: str, devices: dict[str, dict[str, Any]]) -> str:
    """The device families of SnapshotCollector._device_metrics, in the same order, as exposition text."""
    columns = _DeviceColumns()
    columns.update({"node": node, "devices": devices})
    return columns.joined().decode()


class _NodeCollector(SnapshotCollector):
    def collect(self) -> Iterator[Metric]:
        snap = self._get() or {}
        yield from self._node_metrics(str(snap.get("node", "")), snap)


class Exposition:
    """The whole /metrics text for the current snapshot (call it): node metrics and process metrics through
    prometheus-client (a few dozen samples), device families from `_DeviceColumns`. `prepare()` brings the device
    blocks up to date without rendering (MetricsServer runs it on a worker between scrapes, so the formatting is
    spread over the poll interval and a scrape mostly joins bytes)."""

    def __init__(self, get_snapshot: Callable[[], Snapshot]) -> None:
        self._get = get_snapshot
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_NodeCollector(get_snapshot))
        ProcessCollector(namespace="", registry=self._registry)
        self._columns = _DeviceColumns()
        self._lock = threading.Lock()  # renders and prepares run on the metrics server's worker threads

    def prepare(self) -> int:
        snap = self._get() or {}
        with self._lock:
            return self._columns.update(snap)

    def __call__(self) -> bytes:
        snap = self._get() or {}  # one snapshot for the device part (the loop may replace it meanwhile)
        head = generate_latest(self._registry)  # node and process metrics: always current
        with self._lock:
            self._columns.update(snap)
            body = self._columns.joined()
        return b"".join((head, body))


def exposition(get_snapshot: Callable[[], Snapshot]) -> Exposition:
    return Exposition(get_snapshot)


def make_registry(get_snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(get_snapshot))
    ProcessCollector(namespace="", registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes
    return registry
