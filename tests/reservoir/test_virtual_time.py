"""Simulated experiments on virtual time (asicrc.drivers.vtime): the same seed records the same run and the same
report.json, bit for bit; and a virtual-time run measures what a wall-clock run of the same rig measures (share
rate, telemetry), so the speed costs nothing in fidelity."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from asicrc.daemon.cli import main
from asicrc.reservoir.backend_api import BackendOptions
from asicrc.reservoir.device_backend import SimDeviceBackend
from asicrc.reservoir.narma import generate_narma10
from asicrc.reservoir.recording import RunRecord

pytest.importorskip("asicrc.drivers.sim")

TELEMETRY = ("temp_chip_c", "temp_board_c", "power_w", "fan_rpm", "hashrate_hs", "frequency_hz")


def _drive(steps: int, seed: int, *, virtual: bool, speed: float = 10.0, model: str = "lv06") -> RunRecord:
    series = generate_narma10(steps, seed)
    backend = SimDeviceBackend(model, BackendOptions(virtual_time=virtual, clock_speed=speed, workers=1))
    return asyncio.run(backend.drive(series.u, series.target, "monologue", seed))


def _telemetry(run: RunRecord, name: str) -> npt.NDArray[np.float64]:
    ev = run.events
    values = np.asarray(ev[name], dtype=float)[ev["kind"] == "telemetry"]
    return values[np.isfinite(values)]


@pytest.mark.parametrize("model", ["lv06", "s9", "planted", "inert"])
def test_the_same_seed_records_the_same_run_and_another_seed_does_not(model: str) -> None:
    a, b, c = (_drive(60, seed, virtual=True, model=model) for seed in (4, 4, 5))
    assert a.meta["clock"] == "virtual" and a.meta["max_lateness_s"] < 1e-6
    assert np.array_equal(a.bounds_ns, b.bounds_ns) and np.array_equal(a.features, b.features)
    assert a.events.keys() == b.events.keys()
    for key in a.events:
        assert np.array_equal(a.events[key], b.events[key], equal_nan=a.events[key].dtype.kind == "f"), key
    assert len(a.events["t_ns"]) > 300  # shares and telemetry were recorded, not an empty run
    assert not np.array_equal(a.features, c.features)


@pytest.mark.slow
def test_the_same_seeds_give_the_same_report_json_bit_for_bit(tmp_path: Path) -> None:
    args = ["narma", "--backend", "sim:lv06", "--steps", "160", "--washout", "50", "--seeds", "2",
            "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--parallel", "1"]) == 0  # scheduled differently
    first, second = (tmp_path / "a" / "report.json").read_bytes(), (tmp_path / "b" / "report.json").read_bytes()
    settings = json.loads(first)["experiment"]["settings"]
    assert settings["clock"] == "virtual"
    # the parallelism setting is recorded; everything else, results included, is identical byte for byte
    assert first.replace(b'"parallel": 5', b'"parallel": 1') == second
    assert "wall_seconds" in json.loads((tmp_path / "a" / "timing.json").read_text())


@pytest.mark.slow
def test_virtual_and_wall_clock_runs_measure_the_same_share_rate_and_telemetry() -> None:
    steps = 80
    virtual, wall = _drive(steps, 2, virtual=True), _drive(steps, 2, virtual=False, speed=8.0)
    assert wall.meta["clock"] == "wall"
    # rates per simulated second, not counts per step: a loaded machine stretches wall-clock windows (recorded)
    cv, cw = (r.features[:, r.feature_names.index("rate@v0")] for r in (virtual, wall))
    # share rate: per-step rates, two-sample z within 4 sigma (and near the designed 8 per step at mean u)
    z = (cv.mean() - cw.mean()) / np.sqrt(cv.var() / steps + cw.var() / steps)
    assert abs(z) < 4.0, (cv.mean(), cw.mean())
    assert 6.0 < cv.mean() < 12.0
    u = generate_narma10(steps, 2).u
    assert np.corrcoef(cv, u)[0, 1] > 0.5 and np.corrcoef(cw, u)[0, 1] > 0.5
    # telemetry: the same poll cadence (readings per simulated second) and the same levels, within their spread
    fv, fw = (len(_telemetry(r, "power_w")) / ((r.bounds_ns[-1] - r.bounds_ns[0]) / 1e9) for r in (virtual, wall))
    assert abs(fv - fw) <= 0.15 * max(fv, fw), (fv, fw)
    for name in TELEMETRY:
        tv, tw = _telemetry(virtual, name), _telemetry(wall, name)
        spread = max(float(np.std(tv)), float(np.std(tw)), 1e-9 * abs(float(np.mean(tv))), 1e-12)
        assert abs(float(np.mean(tv)) - float(np.mean(tw))) < 3.0 * spread + 0.01 * abs(float(np.mean(tw))), name
    # share arrivals on virtual time are the Poisson process the model draws (inter-arrival CV ~ 1), with no
    # loop-latency artifacts: (almost) no share reaches the pool after its job was replaced
    shares = virtual.events["kind"] == "share"
    gaps = np.diff(np.sort(virtual.events["t_ns"][shares]) / 1e9)
    assert 0.7 < gaps.std() / gaps.mean() < 1.4
    assert np.mean(virtual.events["verdict"][shares] != "accepted") < 0.01
