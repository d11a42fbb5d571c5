"""The daemon's live feature stream, on a real FanOut and a sped-up Clock."""

import asyncio
from pathlib import Path

import numpy as np
import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source
from asicrc.reservoir.stream import FeatureStream


async def test_stream_windows_features_per_device_and_records(tmp_path: Path) -> None:
    clock = Clock(20.0)  # 1 s windows last 50 ms of wall time
    fanout = FanOut()
    stream = FeatureStream(fanout, clock, window_s=1.0, record_dir=tmp_path, flush_windows=3)
    task = asyncio.create_task(stream.run())
    await asyncio.sleep(0)  # let it subscribe
    published = 0
    for w in range(8):
        # device a: 5 shares per window, device b: 2; one telemetry reading per window for a
        for i in range(5):
            fanout.publish(Event(clock.now_ns(), "a", Source.STRATUM, Kind.SHARE, {"achieved_diff": 2.0 ** w,
                                                                                 "verdict": "accepted"}))
            published += 1
            if i < 2:
                fanout.publish(Event(clock.now_ns(), "b", Source.STRATUM, Kind.SHARE, {"achieved_diff": 1.0}))
                published += 1
        fanout.publish(Event(clock.now_ns(), "a", Source.HTTP, Kind.TELEMETRY, {"temp_chip_c": 50.0 + w}))
        published += 1
        await clock.sleep(1.0)
    await stream.stop()
    await asyncio.wait_for(task, 5)
    rep = stream.report()
    assert rep["windows"] >= 6 and rep["dropped"] == 0
    a, b = rep["devices"]["a"], rep["devices"]["b"]
    assert a["count"] in (0.0, 5.0, 10.0) and b["count"] in (0.0, 2.0, 4.0)
    assert "temp_chip_c_level" in a and a["temp_chip_c_level"] >= 50.0
    # every published event is in the recording, with boundaries covering them
    files = rep["recordings"]
    assert files and all(str(tmp_path) in f for f in files)
    total = 0
    for f in files:
        with np.load(f) as z:
            total += len(z["ev__t_ns"])
            assert np.all(np.diff(z["bounds_ns"]) > 0)
    assert total == published


def test_stream_rejects_bad_window() -> None:
    with pytest.raises(ValueError, match="window_s"):
        FeatureStream(FanOut(), window_s=0)
