"""The time-scale sweep's plumbing: which cells can run (transport, envelope settle time), what each cell keeps of
its report, the findings, resumption and the files. The cells' physics are exercised by the backends' own tests;
here a cell is a small report so that the map's bookkeeping is checked in milliseconds."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from asicrc.reservoir.sweep import SweepConfig, not_applicable, physics_tick_s, run_sweep, thermal_tau_s
from asicrc.reservoir.sweep_plots import SWEEP_FILES


def fake_report(adds: bool, diff: float) -> dict[str, Any]:
    def m(v: float) -> dict[str, Any]:
        return {"nrmse": {"mean": v}}

    return {"models": {"device": m(0.9), "lags10": m(0.6), "device+lags10": m(0.6 + diff)},
            "tests": {"device_plus_lags10_vs_lags10": {"mean_diff": diff, "p_wilcoxon": 0.01,
                                                        "p_wilcoxon_holm": 0.02}},
            "decision": {"adds_over_lags10": adds, "adds_over_commanded20": None, "beats_best_input_only": False},
            "memory_capacity": {"device": {"mean": 3.5}}}


def test_cells_the_transport_or_the_envelope_forbid_say_why() -> None:
    assert not_applicable("s9", "frequency", 30.0) is not None and "cannot change" in str(
        not_applicable("s9", "frequency", 30.0))
    assert "settle time" in str(not_applicable("lv06", "voltage", 3.0))
    assert not_applicable("lv06", "voltage", 10.0) is None
    assert not_applicable("lv06", "fan", 1.0) is None  # the fan settles in 1 s
    assert not_applicable("s9", "difficulty", 1.0) is None and not_applicable("s9", "job", 1.0) is None


def test_thermal_time_constants_are_the_physics_own() -> None:
    tau_lv06, tau_s9 = thermal_tau_s("lv06"), thermal_tau_s("s9")
    assert 50.0 < tau_lv06 < 1000.0 and 50.0 < tau_s9 < 1000.0  # heatsink time constants: minutes, not seconds


def test_sweep_map_findings_and_resume(tmp_path: Path) -> None:
    calls: list[tuple[str, str, float]] = []

    def cell(model: str, encoding: str, step_s: float, out: Path) -> dict[str, Any]:
        calls.append((model, encoding, step_s))
        report = fake_report(adds=model == "planted", diff=-0.1 if model == "planted" else 0.01)
        out.mkdir(parents=True)
        (out / "report.json").write_text(json.dumps(report))
        return report

    cfg = SweepConfig(models=("s9", "planted"), encodings=("difficulty", "frequency"), steps_s=(1.0, 10.0))
    sweep = run_sweep(cfg, tmp_path, run_cell=cell)
    # s9 cannot set its frequency; the LV06-class planted device cannot at 1 s (settle time 10 s)
    assert sorted(calls) == [("planted", "difficulty", 1.0), ("planted", "difficulty", 10.0),
                             ("planted", "frequency", 10.0), ("s9", "difficulty", 1.0), ("s9", "difficulty", 10.0)]
    f = sweep["findings"]
    assert f["cells_run"] == 5 and f["cells_not_applicable"] == 3 and f["cells_not_run"] == 0
    assert f["adds_over_lags10"] == ["planted-difficulty-1s", "planted-difficulty-10s", "planted-frequency-10s"]
    # a knob encoding is credited to the device only if it also beats the host's own commanded values
    assert f["credited_to_device"] == {"planted": ["difficulty@1s", "difficulty@10s"]}
    ran = [c for c in sweep["cells"] if c["applicable"]]
    assert all(c["nrmse_lags10"] == 0.6 and c["memory_capacity_device"] == 3.5 for c in ran)
    assert all(c["step_over_tau"] > 0 for c in sweep["cells"])
    for name in SWEEP_FILES:
        assert (tmp_path / name).stat().st_size > 0
    calls.clear()
    again = run_sweep(cfg, tmp_path, run_cell=cell)  # resumed: every cell's report exists
    assert calls == [] and again["findings"] == f
    wider = run_sweep(replace(cfg, steps_s=(1.0, 10.0, 30.0)), tmp_path, run_cell=cell, run_missing=False)
    assert calls == [] and wider["findings"]["cells_not_run"] == 3  # the 30 s column: mapped, not run
    assert wider["findings"]["adds_over_lags10"] == f["adds_over_lags10"]


def test_long_steps_take_a_coarser_physics_tick() -> None:
    assert physics_tick_s(1.0) == 0.1 and physics_tick_s(10.0) == 1.0 and physics_tick_s(300.0) == 3.0


def test_bad_sweep_settings_are_named() -> None:
    with pytest.raises(ValueError, match="unknown model 'bm1397'"):
        SweepConfig(models=("bm1397",))
    with pytest.raises(ValueError, match="simulated Bitcoin miners"):
        SweepConfig(models=("lbbox",))
    with pytest.raises(ValueError, match="step times"):
        SweepConfig(steps_s=(0.0,))
    with pytest.raises(ValueError, match="too short"):
        SweepConfig(steps=100, washout=50)


def test_a_cell_report_that_is_not_a_narma_report_is_named(tmp_path: Path) -> None:
    """Resuming into a directory holding another file at a cell's report.json: one error naming it, no traceback."""
    cfg = SweepConfig(models=("lv06",), encodings=("difficulty",), steps_s=(1.0,))
    cell_dir = tmp_path / "cells" / "lv06-difficulty-1s"
    cell_dir.mkdir(parents=True)
    for text, needle in (('{"models": {}}', "of this version"), ("{not json", "not a narma report.json"),
                         ("[1]", "not a JSON object")):
        (cell_dir / "report.json").write_text(text)
        with pytest.raises(ValueError, match=needle) as err:
            run_sweep(cfg, tmp_path, run_missing=False)
        assert str(cell_dir / "report.json") in str(err.value)
    (cell_dir / "report.json").write_text(json.dumps(fake_report(adds=False, diff=0.01)))  # control: a real one maps
    assert run_sweep(cfg, tmp_path, run_missing=False)["findings"]["cells_run"] == 1
