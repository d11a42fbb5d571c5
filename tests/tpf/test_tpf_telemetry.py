"""Telemetry variant: an honest evaluation on a simulated device's event stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asicrc.drivers.events import Kind
from asicrc.reservoir.tpf import TpfGate
from asicrc.reservoir.tpf.simstream import generate_events
from asicrc.reservoir.tpf.telemetry import run_telemetry_experiment, window_dataset


@pytest.fixture(scope="module")
def events() -> list:
    return generate_events(seed=5, duration_s=3000, share_rate_hz=0.3)


def test_stream_has_varying_physics_and_shares(events: list) -> None:
    tel = [e for e in events if e.kind == Kind.TELEMETRY]
    shares = [e for e in events if e.kind == Kind.SHARE]
    assert 0.2 * 3000 < len(shares) < 0.45 * 3000
    temps = np.array([e.data["temp_chip_c"] for e in tel])
    assert temps.std() > 0.5  # operating-point regimes really move the temperature
    assert all(e.data["assigned_diff"] > 0 for e in shares)
    assert [e.t_ns for e in events] == sorted(e.t_ns for e in events)


def test_windows_are_causal_and_labelled(events: list) -> None:
    ds = window_dataset(events, window_s=2.0)
    assert np.all(ds.feature_t_max_ns < ds.t_start_ns)
    assert np.array_equal(ds.y, ds.shares > 0)
    assert 0.2 < ds.y.mean() < 0.7


def test_honest_run_reports_significance_and_gate_reason(events: list) -> None:
    rep = run_telemetry_experiment(events, classifiers=("logreg", "hgb"))
    assert rep["config"]["n_test"] > 300
    for res in rep["classifiers"].values():
        assert 0 <= res["auc_p_holm"] <= 1
        assert len(res["block_bootstrap"]["auc_ci"]) == 2
        ew = res["energy_weighted"]
        assert 0 <= ew["energy_keep_fraction"] <= 1 and 0 <= ew["share_keep_fraction"] <= 1
    g = TpfGate()
    g.update(rep)
    assert isinstance(g.state()["reason"], str) and g.state()["p_value"] is not None


def test_bad_streams_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match="too short"):
        window_dataset([])
    with pytest.raises(ValueError, match="unknown model"):
        generate_events(model="antminer-s99")


def test_recorded_stream_round_trip(events: list, tmp_path: Path) -> None:
    """Events saved as a reservoir recording come back as the same windows, and the CLI runs on the file."""
    from asicrc.reservoir.eventcols import events_to_columns
    from asicrc.reservoir.recording import RunRecord, save_run
    from asicrc.reservoir.tpf.recorded import load_recorded_events

    z = np.zeros(3)
    save_run(tmp_path, "lv06", RunRecord(u=z, target=z, features=np.zeros((3, 1)), feature_names=["x"],
                                         events=events_to_columns(events), meta={"device": "lv06-sim-5"}))
    back = load_recorded_events(tmp_path / "lv06")
    a, b = window_dataset(events), window_dataset(back)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="does not exist"):
        load_recorded_events(tmp_path / "missing")
