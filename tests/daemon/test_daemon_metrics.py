"""Prometheus exposition from a fleet snapshot: promtool-clean, units in names, node labels, served on loopback."""

from __future__ import annotations

import gzip
import math
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import find_tool
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asicrc.daemon.fleetstate import FleetState
from asicrc.daemon.metrics import METRIC_NAMES, exposition, make_registry
from asicrc.daemon.metrics_http import PREPARE_S, MetricsServer
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


def _varied_fleet(clock: list[int]) -> tuple[FleetState, list[str]]:
    """300 devices: odd ids (quotes, backslashes, newlines, non-ASCII) and models, never-polled, failing and
    share-submitting ones, telemetry with NaN/inf/bools/strings/empty lists, for the reference comparisons."""
    rng = random.Random(16)
    fleet = FleetState('no"de\\x\n', now_ns=lambda: clock[0], poll_interval_s=10)
    ids = []
    for i in range(300):
        dev = rng.choice([f"s9-{i:03d}", f'we"ird\\{i}\n', f"ünï-{i}"])
        ids.append(dev)
        fleet.add_device(dev, rng.choice(["s9", "lv06", 'm"x\n']), "http")
        if i % 7:
            fleet.apply(Event(100 * S, dev, Source.RPC, Kind.STATE,
                              {"state": "online", "serial": f'S"{i}\\', "firmware": "fw\n1"}))
    for i, dev in enumerate(ids):
        if i % 5:
            _poll(fleet, rng, dev, 101 * S)
        if i % 11 == 0:
            for j in range(rng.randint(1, 20)):
                fleet.apply(Event((101 + j) * S, dev, Source.STRATUM, Kind.SHARE, {
                    "assigned_diff": 4096.0, "verdict": rng.choice(["accepted", 'b"ad', "stale"])}))
        if i % 13 == 0:
            fleet.apply(Event(101 * S, dev, Source.RPC, Kind.FAULT,
                              {"poll_failed": True, "reason": "timeout", "_poll_duration_s": 5.0}))
    return fleet, ids


def _poll(fleet: FleetState, rng: random.Random, dev: str, t_ns: int) -> None:
    values = {"hashrate_hs": rng.choice([13.5e12, math.nan, None, [1e12, 2e12], "x", True]),
              "temp_chip_c": rng.choice([[60 + rng.random(), math.inf, 61], 55.0, [], None, [math.nan, 3]]),
              "fan_rpm": [rng.randint(0, 6000) for _ in range(rng.randint(0, 4))],
              "power_w": rng.choice([None, 1320, 0.0, -0.0]), "hw_errors": rng.choice([[3, 0, 1], 2, None, []]),
              "_poll_duration_s": rng.random()}
    fleet.apply(Event(t_ns, dev, Source.RPC, Kind.TELEMETRY, {k: v for k, v in values.items() if v is not None}))


def _samples(text: str) -> dict[tuple[str, str], set[tuple[str, tuple[tuple[str, str], ...], str]]]:
    out: dict[tuple[str, str], set[tuple[str, tuple[tuple[str, str], ...], str]]] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name.startswith("process_") or fam.name == "asicrc_uptime_seconds":
            continue  # sampled separately by each rendering
        out[(fam.name, fam.type)] = {(smp.name, tuple(sorted(smp.labels.items())), repr(smp.value))
                                     for smp in fam.samples}
    return out


def test_cached_device_lines_equal_the_reference_as_the_fleet_changes() -> None:
    """One Exposition kept across refreshes (its per-device blocks rewritten only for the devices that changed)
    serves sample for sample what prometheus-client renders from SnapshotCollector on the same snapshot: 300
    varied devices, then some polled again, all gone stale (their telemetry leaves the exposition), some back,
    one removed and one added."""
    clock = [130 * S]
    fleet, ids = _varied_fleet(clock)
    rng = random.Random(7)
    render = exposition(fleet.snapshot)
    reference = make_registry(fleet.snapshot)
    rewritten = []

    def same() -> dict[tuple[str, str], set[tuple[str, tuple[tuple[str, str], ...], str]]]:
        fleet.refresh()
        rewritten.append(render.prepare())
        fast = _samples(render().decode())
        assert fast == _samples(generate_latest(reference).decode())
        return fast

    first = same()
    live = {lbl for _, lbl, _ in first[("asicrc_fan_rpm", "gauge")]}
    assert len(live) > 100 and len(first[("asicrc_device_up", "gauge")]) == 300
    for dev in ids[:50]:
        _poll(fleet, rng, dev, 131 * S)
    clock[0] = 140 * S
    same()
    assert 50 <= rewritten[-1] < 300  # the 50 polled (and the share submitters' moving estimate), not all
    clock[0] = 180 * S  # no poll for 49 s > 3 x 10 s + 5 s: every device is stale
    stale = same()
    assert not stale.get(("asicrc_fan_rpm", "gauge")) and not stale.get(("asicrc_chip_temperature_celsius", "gauge"))
    assert {v for _, _, v in stale[("asicrc_device_up", "gauge")]} == {"0.0"}
    for dev in ids[100:200]:
        _poll(fleet, rng, dev, 181 * S)
    fleet.remove_device(ids[150])
    fleet.add_device("zz-new", "s9", "http")
    clock[0] = 185 * S
    back = same()
    assert {dict(lbl)["device"] for _, lbl, _ in back[("asicrc_fan_rpm", "gauge")]} <= set(ids[100:200])
    assert {dict(lbl)["device"] for _, lbl, _ in back[("asicrc_device_up", "gauge")]} == set(fleet.devices)
    for round_ in range(3):
        for dev in rng.sample(ids[:100], 30):
            _poll(fleet, rng, dev, (186 + round_) * S)
        clock[0] = (187 + round_) * S
        same()


def test_a_scrape_after_prepare_rewrites_nothing() -> None:
    """prepare() (MetricsServer's tick between scrapes) writes the changed devices' lines, so the scrape of the
    same snapshot has none left to write; a new poll makes that one device's lines change."""
    clock = [130 * S]
    fleet, ids = _varied_fleet(clock)
    fleet.refresh()
    render = exposition(fleet.snapshot)
    assert render.prepare() >= 300
    text = render()
    assert render.prepare() == 0
    _poll(fleet, random.Random(1), ids[1], 130 * S)
    fleet.refresh()
    assert render.prepare() == 1
    assert render() != text


def test_served_body_is_gzip_when_accepted_and_prepared_between_scrapes() -> None:
    fleet = _fleet()
    expo = exposition(fleet.snapshot)
    server = MetricsServer(expo, "127.0.0.1", 0, prepare=expo.prepare)
    port = server.start()
    try:
        fleet.add_device("new-one", "lv06", "http")
        fleet.refresh()
        deadline = time.monotonic() + 10
        while expo.prepare() and time.monotonic() < deadline:  # the server's tick wrote it first: 0 left
            fleet.add_device(f"new-{time.monotonic()}", "lv06", "http")
            fleet.refresh()
            time.sleep(PREPARE_S * 1.5)
        assert expo.prepare() == 0
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.headers.get("Content-Encoding") == "gzip"
            body = gzip.decompress(resp.read()).decode()
        assert 'asicrc_device_up{device="new-one",node="node-a"} 0.0' in body
    finally:
        server.stop()


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
