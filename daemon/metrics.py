"""Prometheus exposition: a custom collector over the fleet snapshot (served by asicrc.daemon.metrics_http).

A scrape reads the last snapshot the event loop built (`FleetState.snapshot`), so it never touches hardware
and never waits on the loop. Devices are polled on the daemon's own timer; `asicrc_last_poll_timestamp_seconds`
says how fresh each device's numbers are. Every series carries `node` so several daemons can share one
Prometheus without collisions.
"""

from __future__ import annotations

import logging
import math
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
# A fleet of 10 000 devices is ~300 000 samples. prometheus-client builds a Sample tuple and a label dict per
# sample and formats each one generically (over 1 s of CPU, holding the GIL the event loop needs); the device
# families are therefore written here directly as text. SnapshotCollector above stays the reference: a test
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


def _estimate_field(key: str) -> Callable[[dict[str, Any]], float]:
    return lambda d: _or_nan((d.get("hashrate_estimate") or {}).get(key))


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
            self.__init__()  # type: ignore[misc]
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


def _device_text(node: str, devices: dict[str, dict[str, Any]], labels: _Labels | None = None) -> str:
    """The device families of SnapshotCollector._device_metrics, in the same order, as exposition text.
    Values are written with repr(): Prometheus parsers (Go's ParseFloat, prometheus-client) read nan/inf.
    One list comprehension per family over (label text, entry) rows: 10 000 devices are ~240 000 lines."""
    if labels is None:
        labels = _Labels()
    labels.reset_if_stale(node, len(devices))
    items = sorted(devices.items())
    rows = [(labels.key(dev_id), d) for dev_id, d in items]
    out: list[str] = []
    add = out.append
    nan = math.nan

    _header(out, "asicrc_device_info", "Static facts about a device", "gauge")
    out += [labels.info_line(dev_id, d) for dev_id, d in items]
    _header(out, "asicrc_device_up", "1 if the device is online and its last poll succeeded recently", "gauge")
    out += [f"asicrc_device_up{k} {'1.0' if d.get('up') else '0.0'}\n" for k, d in rows]
    estimates = [(k, d.get("hashrate_estimate") or {}) for k, d in rows]
    for suffix, key, help_ in (
            ("", "value", "Hashrate estimated from accepted shares over the last 5 minutes"),
            ("_lower", "low", "Lower bound of the 95% Poisson interval of the share hashrate"),
            ("_upper", "high", "Upper bound of the 95% Poisson interval of the share hashrate")):
        name = f"asicrc_share_hashrate{suffix}_hashes_per_second"
        _header(out, name, help_, "gauge")
        out += [f"{name}{k} {_or_nan(est.get(key)) if est else nan!r}\n" for k, est in estimates]
    _header(out, "asicrc_shares_total", "Shares submitted, by verdict", "counter")
    for dev_id, d in items:
        counts = d.get("shares", {})
        before, after = labels.piece("verdict", dev_id)
        if not counts:
            add(f"asicrc_shares_total{before}accepted{after} 0.0\n")
            continue
        out.extend(f"asicrc_shares_total{before}{_esc(v)}{after} {float(counts.get(v, 0))!r}\n"
                   for v in sorted({"accepted", *counts}))

    def family(name: str, help_: str, kind: str, values: list[float]) -> None:
        _header(out, name, help_, kind)
        out.extend([f"{name}{k} {v!r}\n" for (k, _), v in zip(rows, values, strict=True)])

    family("asicrc_nonces_total", "Nonce frames received from serial chains", "counter",
           [float(d.get("nonces", 0)) for _, d in rows])
    family("asicrc_hardware_errors_total", "Hardware errors the device reports", "counter",
           [_total(d.get("telemetry", {}).get("hw_errors")) or 0.0 for _, d in rows])
    family("asicrc_device_faults_total", "Faults (disconnects, refusals, errors)", "counter",
           [float(d.get("faults", 0)) for _, d in rows])
    family("asicrc_device_restarts_total", "Times the supervisor restarted the device task", "counter",
           [float(d.get("restarts", 0)) for _, d in rows])
    family("asicrc_poll_success", "1 if the last telemetry poll succeeded", "gauge",
           [1.0 if d.get("poll_success") else 0.0 for _, d in rows])
    family("asicrc_poll_duration_seconds", "Duration of the last telemetry poll", "gauge",
           [float(d.get("poll_duration_s", 0.0)) for _, d in rows])
    family("asicrc_last_poll_timestamp_seconds",
           "Unix time of the last telemetry poll (the daemon polls on its own timer)", "gauge",
           [float(d.get("last_poll_unix", 0.0)) for _, d in rows])
    family("asicrc_device_last_success_timestamp",
           "Unix time in seconds of the device's last successful poll (0 = never); telemetry gauges are left out "
           "while the device is down", "gauge", [float(d.get("last_success_unix") or 0.0) for _, d in rows])
    telemetry = [(dev_id, k, d.get("telemetry") or {}) for (dev_id, _), (k, d) in zip(items, rows, strict=True)]
    for name, help_, tkey, sub, scale in TELEMETRY_GAUGES:
        _header(out, name, help_, "gauge")
        pieces = labels.pieces.setdefault(sub, {}) if sub is not None else {}
        for dev_id, k, tel in telemetry:
            value = tel.get(tkey)
            if value is None:
                continue
            if sub is None:
                total = _total(value)
                if total is not None:
                    add(f"{name}{k} {total * scale!r}\n")
                continue
            nums = _numbers(value)
            if not nums:
                continue
            piece = pieces.get(dev_id)
            before, after = piece if piece is not None else labels.piece(sub, dev_id)
            if scale == 1.0:
                out.extend([f"{name}{before}{i}{after} {v!r}\n" for i, v in nums])
            else:
                out.extend([f"{name}{before}{i}{after} {v * scale!r}\n" for i, v in nums])
    return "".join(out)


class _NodeCollector(SnapshotCollector):
    def collect(self) -> Iterator[Metric]:
        snap = self._get() or {}
        yield from self._node_metrics(str(snap.get("node", "")), snap)


def exposition(get_snapshot: Callable[[], Snapshot]) -> Callable[[], bytes]:
    """A function returning the whole /metrics text for the current snapshot: node metrics and process metrics
    through prometheus-client (a few dozen samples), device families through the fast writer."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_NodeCollector(get_snapshot))
    ProcessCollector(namespace="", registry=registry)

    labels = _Labels()
    cached: list[Any] = [None, b""]  # (the snapshot the device text was written from, that text)
    lock = threading.Lock()  # renders run on the metrics server's worker threads

    def render() -> bytes:
        snap = get_snapshot() or {}  # one snapshot for both parts (the loop may replace it meanwhile)
        head = generate_latest(registry)  # node and process metrics: always current
        with lock:
            # several scrapers (two Prometheus replicas, a federation) between two snapshot rebuilds get the
            # device text written once
            if cached[0] is not snap:
                cached[0], cached[1] = snap, _device_text(str(snap.get("node", "")), snap.get("devices", {}),
                                                          labels).encode()
            body: bytes = cached[1]
        return head + body

    return render


def make_registry(get_snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(get_snapshot))
    ProcessCollector(namespace="", registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes
    return registry
