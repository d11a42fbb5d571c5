"""The cyclic garbage collector's settings for a daemon whose heap is large and steady.

With thousands of devices the heap holds hundreds of thousands of containers (device objects, their state, the
fleet snapshot), and every poll and snapshot rebuild allocates more. At CPython's default thresholds (700, 10, 10)
the collector ran a full collection every few seconds and took 28 % of the daemon's CPU at 5000 devices
(bench/bench_fleet.py, measured with gc.callbacks). What is allocated per poll is freed by reference counting;
the collector is only needed for the occasional cycle (exceptions holding frames, closed transports), so it
runs less often, and the heap built at start-up (modules, config, drivers) is frozen out of its view.
"""

from __future__ import annotations

import gc

# young-generation collections after this many net container allocations (default 700): ~ a few a second at a
# thousand polls a second; the older generations follow every 20 younger collections (default 10)
THRESHOLDS = (20_000, 20, 20)


def configure() -> None:
    gc.set_threshold(*THRESHOLDS)


def settle() -> None:
    """After start-up or a reload: collect what is garbage now, then move everything that survives into the
    permanent generation, which the collector never traverses again. A reload first unfreezes, so the objects of
    removed devices can be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
