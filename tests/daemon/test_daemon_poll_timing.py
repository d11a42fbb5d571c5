"""Poll timing comes from the driver's own events: `asicrc_poll_duration_seconds` is how long the last real poll
took (connect to parsed reply, or to the failure), `asicrc_last_poll_timestamp_seconds` when it ended; the
duration is a fact about the link and stays out of the telemetry (MQTT state, telemetry query)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from asicrc.daemon.fleetstate import FleetState
from asicrc.drivers.clock import Clock
from asicrc.drivers.events import POLL_DURATION_KEY, FanOut, Kind
from asicrc.drivers.models import create_device

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drivers"))
from drivers_fakes import S9_SUMMARY, S9_VERSION, FakeRpc, rpc_bytes, s9_stats


async def test_poll_duration_and_time_from_the_driver_events() -> None:
    rpc = FakeRpc({"stats": rpc_bytes(s9_stats()), "summary": rpc_bytes(S9_SUMMARY),
                   "version": rpc_bytes(S9_VERSION)})
    await rpc.start()
    fanout = FanOut()
    sub = fanout.subscribe()
    fleet = FleetState("n", poll_interval_s=0.2)
    st = fleet.add_device("s9-1", "s9", "rpc")
    dev = create_device({"model": "s9", "device_id": "s9-1", "port": rpc.port, "poll_interval_s": 0.2,
                         "timeout_s": 0.3}, fanout=fanout, clock=Clock())
    await dev.start()
    try:
        async def fold_until(kind: Kind, **data: object) -> None:
            while True:
                ev = await asyncio.wait_for(sub.get(), 10)
                fleet.apply(ev)
                if ev.kind == kind and all(ev.data.get(k) == v for k, v in data.items()):
                    return

        await fold_until(Kind.TELEMETRY)
        assert 0.0 < st.poll_duration_s < 0.3
        assert abs(st.last_poll_unix - time.time()) < 30.0  # unix time (not monotonic), whatever the load
        assert POLL_DURATION_KEY not in st.telemetry and st.telemetry["chips"] == [63, 63, 63]
        entry = fleet.refresh()["devices"]["s9-1"]
        assert entry["poll_duration_s"] == st.poll_duration_s and POLL_DURATION_KEY not in entry["telemetry"]

        rpc.mode = "hang"  # the next poll runs into its 0.3 s deadline: the fault carries that duration
        t_before = st.last_poll_unix
        await fold_until(Kind.FAULT, poll_failed=True)
        assert 0.3 <= st.poll_duration_s < 5.0  # the deadline, plus however late a loaded loop runs its timer
        assert st.last_poll_unix > t_before and not st.poll_success
    finally:
        await dev.stop()
        await rpc.stop()
