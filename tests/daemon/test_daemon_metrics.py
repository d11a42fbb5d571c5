"""Prometheus exposition from a fleet snapshot: promtool-clean, units in names, node labels, served on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from conftest import find_tool
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asicrc.daemon.fleetstate import FleetState
from asicrc.daemon.metrics import METRIC_NAMES, exposition, make_registry
from asicrc.daemon.metrics_http import MetricsServer
from asicrc.drivers.events import Event, Kind, Source

S = 1_000_000_000


def _fleet() -> FleetState:
    t = [100 * S]
    fleet = FleetState("node-a", now_ns=lambda: t[0])
    fleet.add_device("s9", "s9", "sim")
    fleet.add_device("lv06", "lv06", "sim")
    events = [
        Event(100 * S, "s9", Source.RPC, Kind.STATE, {"state": "online", "serial": "S9-1", "firmware": "bmminer"}),
        Event(100 * S, "lv06", Source.HTTP, Kind.STATE, {"state": "online", "serial": "LV06-1"}),
        # the last polls just before the scrape: both devices are live (fleetstate.liveness)
        Event(161 * S, "s9", Source.RPC, Kind.TELEMETRY, {
            "hashrate_hs": 13.5e12, "temp_chip_c": [61.0, 63.5, 60.0], "temp_board_c": [50.0, 51.0, 49.0],
            "power_w": 1320.0, "fan_rpm": [4800, 4920], "frequency_hz": [650e6] * 3,
            "core_voltage_v": [0.88] * 3, "hw_errors": [3, 0, 1], "ambient_c": 25.0}),
        Event(161 * S, "lv06", Source.HTTP, Kind.TELEMETRY, {"hashrate_hs": 500e9, "temp_chip_c": 55.0,
                                                            "power_w": 13.0, "fan_rpm": 3000}),
    ]
    for i in range(60):
        verdict = "accepted" if i % 10 else "low-difficulty"
        events.append(Event((102 + i) * S, "s9", Source.STRATUM, Kind.SHARE,
                            {"assigned_diff": 4096.0, "achieved_diff": 5000.0, "verdict": verdict}))
    for ev in events:
        fleet.apply(ev)
    t[0] = 162 * S
    fleet.extra.update(loop_lag_s=0.002, stratum={"connections": 2}, mqtt={"connected": True},
                       tpf={"enabled": False, "p_value": None, "reason": "no held-out result yet"},
                       reservoir={"nrmse": 0.41, "task": "narma10", "windows": 12})
    fleet.refresh()
    return fleet


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_exposition_passes_promtool() -> None:
    promtool = find_tool("promtool")
    text = exposition(_fleet().snapshot)()  # what /metrics serves
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_values_and_labels() -> None:
    fams = _families(exposition(_fleet().snapshot)().decode())
    for name in METRIC_NAMES:
        sample_names = {name, f"{name}_total", f"{name}_info"}
        assert sample_names & set(fams), f"{name} missing from the exposition"
    shares = {(lbl["device"], lbl["verdict"]): v for lbl, v in fams["asicrc_shares_total"]}
    assert shares[("s9", "accepted")] == 54 and shares[("s9", "low-difficulty")] == 6
    temps = {lbl["sensor"]: v for lbl, v in fams["asicrc_chip_temperature_celsius"] if lbl["device"] == "s9"}
    assert temps == {"0": 61.0, "1": 63.5, "2": 60.0}
    hw = {lbl["device"]: v for lbl, v in fams["asicrc_hardware_errors_total"]}
    assert hw["s9"] == 4.0
    # share hashrate: 54 accepted at diff 4096 in 60 s; the 95% interval brackets the point estimate
    (_lbl, point), = [x for x in fams["asicrc_share_hashrate_hashes_per_second"] if x[0]["device"] == "s9"]
    lo = next(v for lb, v in fams["asicrc_share_hashrate_lower_hashes_per_second"] if lb["device"] == "s9")
    hi = next(v for lb, v in fams["asicrc_share_hashrate_upper_hashes_per_second"] if lb["device"] == "s9")
    assert abs(point - 54 * 4096 * 2**32 / 60) / point < 1e-9
    assert lo < point < hi
    assert all(lb["node"] == "node-a" for samples in fams.values() for lb, _ in samples if "node" in lb)
    assert [v for _, v in fams["asicrc_stratum_connections"]] == [2.0]
    assert [v for _, v in fams["asicrc_reservoir_nrmse"]] == [0.41]


def test_fast_exposition_equals_the_reference_collector() -> None:
    """The served text (device families written directly) exposes exactly what prometheus-client's rendering of
    SnapshotCollector does: same families, types, label sets and values (NaN compared as NaN)."""
    fleet = _fleet()
    fleet.add_device("dead", "lbbox", "http")  # never polled: no telemetry, NaN share hashrate
    fleet.refresh()

    def parsed(text: str) -> dict[tuple[str, str], set[tuple[str, tuple[tuple[str, str], ...], str]]]:
        out: dict[tuple[str, str], set[tuple[str, tuple[tuple[str, str], ...], str]]] = {}
        for fam in text_string_to_metric_families(text):
            if fam.name.startswith("process_"):
                continue  # sampled separately by each rendering
            out[(fam.name, fam.type)] = {(smp.name, tuple(sorted(smp.labels.items())), repr(smp.value))
                                         for smp in fam.samples if fam.name != "asicrc_uptime_seconds"}
        return out

    fast = exposition(fleet.snapshot)().decode()
    reference = generate_latest(make_registry(fleet.snapshot)).decode()
    assert parsed(fast) == parsed(reference)
    assert len(parsed(fast)) >= len(METRIC_NAMES) - 2


def test_device_text_is_written_once_per_snapshot() -> None:
    """Scrapes between two snapshot rebuilds share one rendering of the device families; a rebuilt snapshot
    (a device added, a new reading, a device removed) is rendered afresh, with no label text left behind."""
    fleet = _fleet()
    render = exposition(fleet.snapshot)
    first = _families(render().decode())
    assert _families(render().decode())["asicrc_device_up"] == first["asicrc_device_up"]
    fleet.add_device("new-one", "lv06", "http")
    fleet.apply(Event(162 * S, "lv06", Source.HTTP, Kind.TELEMETRY, {"temp_chip_c": 57.5}))
    fleet.refresh()
    again = _families(render().decode())
    assert {lbl["device"] for lbl, _ in again["asicrc_device_up"]} == {"s9", "lv06", "new-one"}
    assert ({"device": "lv06", "node": "node-a", "sensor": "0"}, 57.5) in again["asicrc_chip_temperature_celsius"]
    fleet.remove_device("s9")
    fleet.refresh()
    assert {lbl["device"] for lbl, _ in _families(render().decode())["asicrc_device_up"]} == {"lv06", "new-one"}


def test_server_binds_loopback_and_serves() -> None:
    server = MetricsServer(exposition(_fleet().snapshot), "127.0.0.1", 0)
    port = server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert "asicrc_device_up{device=\"s9\",node=\"node-a\"} 1.0" in body
        assert "process_resident_memory_bytes" in body
    finally:
        server.stop()


def test_busy_port_is_a_clear_error() -> None:
    first = MetricsServer(exposition(_fleet().snapshot), "127.0.0.1", 0)
    port = first.start()
    try:
        second = MetricsServer(exposition(_fleet().snapshot), "127.0.0.1", port)
        try:
            second.start()
        except OSError as exc:
            assert f"127.0.0.1:{port}" in str(exc)
        else:
            raise AssertionError("binding a busy port must fail")
    finally:
        first.stop()


def test_run_with_a_busy_prometheus_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "busy.toml"
        cfg.write_text(f'[node]\nstate_dir = "{tmp_path / "state"}"\n[mqtt]\nenabled = false\n'
                       f'[prometheus]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n')
        proc = subprocess.run([sys.executable, "-m", "asicrc.daemon.cli", "run", "--config", str(cfg)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"asicrc run: error: prometheus: cannot listen on 127.0.0.1:{port}: "
                                   "address already in use (another program is listening there)")
