"""Stale work after a clean job: how many shares a simulated miner submits on a job the pool already replaced.

On hardware a clean job (mining.notify with clean_jobs) makes in-flight work stale for the few milliseconds the
firmware needs to hand the ASIC new work. A simulator that decides its shares ahead of time (scan-ahead) keeps
submitting old-job shares for as long as it looked ahead: an artificial memory of the previous job, and in a
reservoir experiment of the previous input. This bench drives one simulated miner against the project's pool,
sends a clean job with a new difficulty every `--period-s` simulated seconds (what `asicrc narma` does each
step) and prints, per model:

- stale fraction = stale / (accepted + stale) shares;
- stale work per clean job in milliseconds = stale fraction x period (the simulated time the miner kept
  working on a replaced job, averaged over jobs); hardware: milliseconds;
- (accepted + stale) shares / expected shares (hashes done x (1 - hardware errors) / (difficulty x 2^32)), the
  sanity ratio (should be ~1).

    .venv/bin/python bench/bench_stale.py [--seconds 120] [--speed 20] [--period-s 1]
"""

from __future__ import annotations

import argparse
import asyncio
import math

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import FanOut
from asicrc.drivers.rig import start_pool, start_simulator
from asicrc.drivers.stratum.server import ServerConfig

SEARCH_RATE_HS = 2000.0
SHARES_PER_S = 8.0


async def measure(model: str, seconds: float, speed: float, period_s: float, tick_s: float) -> dict[str, float]:
    clock = Clock(speed)
    diff = SEARCH_RATE_HS / (SHARES_PER_S * 2**32)
    server = await start_pool(ServerConfig(difficulty=diff, min_difficulty=1e-12, job_interval_s=0), fanout=FanOut(),
                              clock=clock)
    verdicts: dict[str, int] = {}
    server.add_share_listener(lambda conn, rec: verdicts.__setitem__(str(rec.verdict),
                                                                     verdicts.get(str(rec.verdict), 0) + 1))
    authorized = asyncio.Event()
    server.add_connection_listener(lambda conn, what: authorized.set() if what == "authorized" else None)
    dev = await start_simulator(model, serial=f"STALE-{model}", seed=1, clock=clock, pool=("127.0.0.1", server.port),
                                search_rate_hs=SEARCH_RATE_HS, tick_s=tick_s)
    try:
        await asyncio.wait_for(authorized.wait(), 30.0)
        conn = server.active_connections()[0].id
        await clock.sleep(2.0)
        verdicts.clear()
        h0 = dev.scanner.hashes_done
        steps = int(seconds / period_s)
        for k in range(steps):
            # alternate the difficulty like an input would, a fresh clean job each time
            server.set_difficulty(conn, diff * (0.5 if k % 2 else 1.5), new_job=True, clean=True)
            await clock.sleep(period_s)
        hashes = dev.scanner.hashes_done - h0
        err = dev.physics.error_fraction
    finally:
        await dev.stop()
        await server.stop()
    accepted = verdicts.get("accepted", 0) + verdicts.get("stale", 0) + verdicts.get("job-not-found", 0)
    stale = verdicts.get("stale", 0) + verdicts.get("job-not-found", 0)
    frac = stale / max(1, accepted + stale)
    # hashes alternate between the two difficulty levels; hardware errors thin the shares
    expected = hashes / (diff * 2**32) * (0.5 * (1 / 0.5 + 1 / 1.5)) * (1 - err)
    return {"accepted": accepted - stale, "stale": stale, "stale_fraction": frac, "stale_ms_per_job": frac * period_s * 1e3,
            "accepted_over_expected": accepted / expected if expected else math.nan}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=120.0, help="simulated seconds measured per model")
    p.add_argument("--speed", type=float, default=20.0, help="simulated seconds per wall second")
    p.add_argument("--period-s", type=float, default=1.0, help="simulated seconds between clean jobs")
    p.add_argument("--tick-s", type=float, default=0.1, help="simulator physics tick (wall s, the default of "
                                                             "`asicrc sim` and `asicrc vbm-ab`)")
    args = p.parse_args()
    for model in ("lv06", "s9"):
        r = asyncio.run(measure(model, args.seconds, args.speed, args.period_s, args.tick_s))
        print(f"{model}: {r['accepted']} accepted, {r['stale']} stale; stale fraction {r['stale_fraction']:.4f}; "
              f"stale work {r['stale_ms_per_job']:.1f} ms per clean job (hardware: a few ms); "
              f"(accepted+stale)/expected {r['accepted_over_expected']:.3f}")


if __name__ == "__main__":
    main()
