"""Garbage-collector pauses of the daemon's event loop, measured (the collector's settings: gcpolicy.py).

CPython's cycle collector stops the whole loop while it runs, for a time proportional to the objects it scans:
one full collection of a started daemon's heap took 100-370 ms on the shared 2-core build machine, so a single
one loses issue 13's 10 ms honest-submit goal. gcpolicy.py freezes the start-up heap and collects less often;
this times every collection (gc.callbacks) so `status` (`gc`) and bench/bench_hostile.py show what is left.
"""

from __future__ import annotations

import gc
import time
from typing import Any


class GcPauses:
    """Counts and times every collection while installed."""

    def __init__(self) -> None:
        self.collections = 0
        self.full_collections = 0
        self.pause_total_s = 0.0
        self.pause_max_s = 0.0
        self._t0 = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
            return
        pause = time.perf_counter() - self._t0
        self.collections += 1
        self.full_collections += info.get("generation") == 2
        self.pause_total_s += pause
        self.pause_max_s = max(self.pause_max_s, pause)

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def stats(self) -> dict[str, Any]:
        # (no gc.get_freeze_count() here: it walks the whole frozen list, ~10 ms per status request under load)
        return {"collections": self.collections, "full_collections": self.full_collections,
                "pause_total_s": round(self.pause_total_s, 6), "pause_max_s": round(self.pause_max_s, 6)}
