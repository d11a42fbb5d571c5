"""CPU cost of the simulated fleet: 3 S9 + 3 LV06 + 1 LB-Box mining against the project's Stratum server.

Goal (issue 4): the seven devices together use <= 1 core. The pools run in a child process so only the
simulator's CPU is measured (user + system time of this process over the measured window).
Printed ratios, all measured in this run:
- fleet CPU / one core (goal <= 1.0);
- fleet CPU / CPU of the nonce search alone at the same hash budget (how much the physics, APIs and Stratum
  add over the unavoidable hashing);
- per device: accepted shares / expected shares (hashes scanned / (difficulty x 2^32)), should be ~1.

    .venv/bin/python bench/bench_sim.py [--seconds 30] [--speed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import FanOut
from asicrc.drivers.rig import start_pool
from asicrc.drivers.sim import SimFleet, SimMiner
from asicrc.drivers.stratum.server import ServerConfig
from asicrc.native import difficulty_to_target, search_nonces

SHA_DIFF = 2.0**-20
LBRY_DIFF = 256 * 2.0**-22


def _pools(conn: Connection, speed: float) -> None:
    async def main() -> None:
        clock = Clock(speed)
        sha = await start_pool(ServerConfig(difficulty=SHA_DIFF, min_difficulty=1e-12, job_interval_s=30),
                               fanout=FanOut(), clock=clock)
        lbry = await start_pool(ServerConfig(difficulty=LBRY_DIFF, min_difficulty=1e-12, job_interval_s=30,
                                             lbry=True), fanout=FanOut(), clock=clock)
        conn.send((sha.port, lbry.port))
        await asyncio.to_thread(conn.recv)
        await sha.stop()
        await lbry.stop()

    asyncio.run(main())


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def hashing_reference(hashes: int) -> float:
    """CPU seconds of search_nonces over `hashes` nonces at an unreachable target (pure hashing cost)."""
    header = bytes(range(80))
    t0 = cpu_s()
    done = 0
    while done < hashes:
        n = min(200_000, hashes - done)
        search_nonces(header, done, n, difficulty_to_target(1e12), 1)
        done += n
    return cpu_s() - t0


@dataclass
class FleetRun:
    wall: float
    cpu: float
    devices: list[SimMiner]
    hashes: list[int]
    accepted: list[int]


async def run_fleet(seconds: float, speed: float, sha_port: int, lbry_port: int) -> FleetRun:
    clock = Clock(speed)
    fleet = SimFleet.from_counts(s9=3, lv06=3, clock=clock, stratum=("127.0.0.1", sha_port), seed=1)
    lbbox = SimFleet.from_counts(lbbox=1, clock=clock, stratum=("127.0.0.1", lbry_port), seed=1)
    devices = fleet.devices + lbbox.devices
    await fleet.start()
    await lbbox.start()
    await asyncio.sleep(2.0)  # connect and get jobs before measuring
    hashes0 = [d.scanner.hashes_done for d in devices]
    acc0 = [d.firmware.counters.accepted for d in devices]
    t_wall, t_cpu = time.monotonic(), cpu_s()
    await asyncio.sleep(seconds)
    wall, cpu = time.monotonic() - t_wall, cpu_s() - t_cpu
    hashes = [d.scanner.hashes_done - h for d, h in zip(devices, hashes0, strict=True)]
    accepted = [d.firmware.counters.accepted - a for d, a in zip(devices, acc0, strict=True)]
    await fleet.stop()
    await lbbox.stop()
    return FleetRun(wall, cpu, devices, hashes, accepted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args()
    parent, child = mp.Pipe()
    proc = mp.Process(target=_pools, args=(child, args.speed), daemon=True)
    proc.start()
    sha_port, lbry_port = parent.recv()
    try:
        res = asyncio.run(run_fleet(args.seconds, args.speed, sha_port, lbry_port))
    finally:
        parent.send("stop")
        proc.join(10)
    wall, cpu, devices, hashes, accepted = res.wall, res.cpu, res.devices, res.hashes, res.accepted
    sha_hashes = sum(h for d, h in zip(devices, hashes, strict=True) if not d.lbry)
    ref = hashing_reference(sha_hashes)
    print(f"fleet: 3 S9 + 3 LV06 + 1 LB-Box, speed {args.speed}x, {wall:.1f} s wall")
    print(f"fleet CPU: {cpu:.2f} s = {cpu / wall:.3f} of one core  (goal <= 1.0: {'met' if cpu / wall <= 1 else 'NOT met'})")
    print(f"sha256d nonce search alone for the same {sha_hashes} hashes: {ref:.2f} s CPU; "
          f"fleet / hashing-only = {cpu / max(ref, 1e-9):.1f}x")
    for d, h, a in zip(devices, hashes, accepted, strict=True):
        diff = LBRY_DIFF / 256 if d.lbry else SHA_DIFF
        expected = h / (diff * 2**32)
        print(f"  {d.spec.name:6s} {d.serial}: {h:8d} hashes, {a:4d} accepted, expected {expected:7.1f} "
              f"(ratio {a / max(expected, 1e-9):.2f}), modeled {d.physics.hashrate_hs / 1e12:.3f} TH/s, "
              f"hash_scale {d.hash_scale:.3g}")
    ratios = np.array([a / max(h / ((LBRY_DIFF / 256 if d.lbry else SHA_DIFF) * 2**32), 1e-9)
                       for d, h, a in zip(devices, hashes, accepted, strict=True)])
    print(f"accepted/expected over the fleet: mean {ratios.mean():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
