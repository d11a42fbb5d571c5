import json
from pathlib import Path

import numpy as np
import pytest

from asicrc.drivers.events import Event, Kind, Source
from asicrc.reservoir.eventcols import events_to_columns
from asicrc.reservoir.experiment import _features_from_recording
from asicrc.reservoir.features import extract_features
from asicrc.reservoir.recording import RunRecord, load_run, save_run


def test_round_trip_keeps_arrays_events_and_metadata(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    T = 50
    times = np.sort(rng.uniform(0, T, 300))
    evs = [Event(int(t * 1e9), "d", Source.STRATUM, Kind.SHARE, {"achieved_diff": float(rng.uniform(1, 9)),
                                                                 "nonce": int(rng.integers(0, 2**32)),
                                                                 "verdict": "accepted"}) for t in times]
    evs.append(Event(int(3.3e9), "d", Source.HTTP, Kind.TELEMETRY, {"temp_chip_c": 55.0, "power_w": 12.5}))
    cols = events_to_columns(evs)
    bounds = (np.arange(T + 1) * 1e9).astype(np.int64)
    fm = extract_features(cols, bounds)
    run = RunRecord(u=rng.uniform(0, 0.5, T), target=rng.uniform(size=T), features=fm.values,
                    feature_names=fm.names, bounds_ns=bounds, events=cols,
                    meta={"device": "d", "firmware": "x", "seed": 3, "feature_source": "events"})
    save_run(tmp_path, "r", run)
    back = load_run(tmp_path, "r")
    np.testing.assert_array_equal(back.u, run.u)
    np.testing.assert_array_equal(back.features, run.features)
    assert back.feature_names == run.feature_names
    for k, v in cols.items():
        np.testing.assert_array_equal(back.events[k], v)
    assert back.meta["seed"] == 3 and "numpy" in back.meta["versions"]
    meta_on_disk = json.loads((tmp_path / "r.json").read_text())
    assert meta_on_disk["device"] == "d"
    # replay recomputes features from the events, not from the stored matrix
    back.features = np.zeros_like(back.features)
    again = _features_from_recording(back)
    np.testing.assert_array_equal(again.features, run.features)


def test_corrupt_or_inconsistent_recordings_give_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid run file"):
        load_run(tmp_path, "bad")
    with pytest.raises(ValueError, match="run arrays disagree"):
        RunRecord(u=np.zeros(3), target=np.zeros(4), features=np.zeros((3, 1)), feature_names=["a"])
