"""The daemon's live feature stream, on a real FanOut, on virtual time (asicrc.drivers.vtime: window boundaries
are exact, so the counts per window do not depend on how loaded the machine is)."""

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source
from asicrc.drivers.vtime import run_virtual, running_virtual_loop
from asicrc.reservoir.stream import FeatureStream


def on_virtual_time(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the async test on a fresh VirtualTimeLoop instead of pytest-asyncio's loop."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        run_virtual(lambda: test(*args, **kwargs))
    return run


@on_virtual_time
async def test_stream_windows_features_per_device_and_records(tmp_path: Path) -> None:
    clock = running_virtual_loop().clock
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


async def _run_windows(stream: FeatureStream, clock: Clock, fanout: FanOut, windows: list[list[str]]) -> None:
    """Publish one share per listed device id in each window, then let the stream close that window."""
    task = asyncio.create_task(stream.run())
    await asyncio.sleep(0)
    for ids in windows:
        for device in ids:
            fanout.publish(Event(clock.now_ns(), device, Source.STRATUM, Kind.SHARE, {"achieved_diff": 1.0}))
        await clock.sleep(1.0)
    await stream.stop()
    await asyncio.wait_for(task, 5)


@on_virtual_time
async def test_one_shot_device_ids_are_bounded_and_forgotten() -> None:
    # issue 13 item 1: 3000 one-shot ids kept the daemon recomputing 3000 devices every window, forever
    clock = running_virtual_loop().clock
    fanout = FanOut()
    stream = FeatureStream(fanout, clock, window_s=1.0, max_devices=50, evict_after_windows=3)
    flood = [f"conn{i}" for i in range(3000)]
    await _run_windows(stream, clock, fanout, [["a", *flood], ["a", ""], ["a"], ["a"], ["a"], ["a"], ["a"]])
    assert set(stream.latest) == {"a"}  # the strangers left and were forgotten; the honest device stayed
    assert stream.report()["ignored_events"] >= 3000 - 50  # beyond the cap from the first window on
    assert len(stream._prev) <= 1 and len(stream._last_seen) == 1


@on_virtual_time
async def test_configured_devices_only() -> None:
    clock = running_virtual_loop().clock
    fanout = FanOut()
    configured = {"a", "b"}
    stream = FeatureStream(fanout, clock, window_s=1.0, devices=lambda: configured)
    windows = [["a", "b", "spoof", "conn7"], ["a", "b", "spoof"], ["a", "b"], ["a", "b"], ["a"]]

    async def drop_b_after_three_windows() -> None:
        await clock.sleep(3.5)
        configured.discard("b")  # removed from the config: it leaves the stream at the next window

    dropper = asyncio.create_task(drop_b_after_three_windows())
    await _run_windows(stream, clock, fanout, windows)
    await dropper
    assert set(stream.latest) == {"a"}
    assert 3 <= stream.report()["ignored_events"] <= 4  # the strangers, and b's event after it left the config
