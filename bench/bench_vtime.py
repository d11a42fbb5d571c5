"""Virtual time against the wall clock for simulated NARMA runs (issue 14).

Measured in this run, on this machine, with its present load (printed: the machine is shared):
1. one ``sim:lv06`` drive of ``--steps`` steps on the wall clock at ``--speed`` (the path experiments took before
   virtual time) and the same drive on virtual time in this process: simulated seconds per wall second and per
   CPU second of each, and their ratio;
2. the whole experiment ``asicrc narma --backend sim:lv06 --seeds N --steps M`` (defaults 7 x 1000: the issue's
   goal is <= 60 wall seconds on the 2-core machine) on virtual time, worker processes included: wall seconds,
   CPU seconds (this process + its workers) and simulated seconds per wall second.

    .venv/bin/python bench/bench_vtime.py [--steps 200] [--speed 15] [--seeds 7] [--full-steps 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from asicrc.reservoir.analysis import AnalysisConfig
from asicrc.reservoir.backend_api import BackendOptions
from asicrc.reservoir.device_backend import SimDeviceBackend
from asicrc.reservoir.experiment import run_experiment
from asicrc.reservoir.narma import generate_narma10


def cpu_s(children: bool = False) -> float:
    t = os.times()
    return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)


def one_drive(steps: int, *, virtual: bool, speed: float) -> tuple[float, float]:
    """(wall s, CPU s) of one drive."""
    series = generate_narma10(steps, 0)
    backend = SimDeviceBackend("lv06", BackendOptions(virtual_time=virtual, clock_speed=speed, workers=1))
    w0, c0 = time.monotonic(), cpu_s()
    asyncio.run(backend.drive(series.u, series.target, "monologue", 0))
    return time.monotonic() - w0, cpu_s() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200, help="steps of the wall-vs-virtual drive (1 s each)")
    ap.add_argument("--speed", type=float, default=15.0, help="wall-clock speed (the old default: 15)")
    ap.add_argument("--seeds", type=int, default=7)
    ap.add_argument("--full-steps", type=int, default=1000)
    args = ap.parse_args()
    print(f"bench_vtime: nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    ww, wc = one_drive(args.steps, virtual=False, speed=args.speed)
    vw, vc = one_drive(args.steps, virtual=True, speed=args.speed)
    sim = float(args.steps)  # 1 simulated s per step
    print(f"one drive, {args.steps} steps = {sim:g} simulated s:")
    print(f"  wall clock x{args.speed:g}: {ww:7.2f} wall s ({sim / ww:7.1f} sim-s/wall-s), {wc:6.2f} CPU s "
          f"({sim / wc:7.1f} sim-s/CPU-s)")
    print(f"  virtual time   : {vw:7.2f} wall s ({sim / vw:7.1f} sim-s/wall-s), {vc:6.2f} CPU s "
          f"({sim / vc:7.1f} sim-s/CPU-s)")
    print(f"  virtual / wall : {ww / vw:.1f}x faster in wall time")
    with tempfile.TemporaryDirectory() as tmp:
        backend = SimDeviceBackend("lv06", BackendOptions())
        w0, c0 = time.monotonic(), cpu_s(children=True)
        run_experiment(backend, args.full_steps, list(range(args.seeds)), Path(tmp) / "narma", show_progress=False,
                       parallel=BackendOptions().parallel, analysis=AnalysisConfig())
        wall = time.monotonic() - w0
        cpu = cpu_s(children=True) - c0  # each run's worker process is reaped when it ends: counted as children
    sim_all = 2.0 * args.seeds * args.full_steps  # drive + constant run per seed
    print(f"asicrc narma sim:lv06, {args.seeds} seeds x {args.full_steps} steps (+ constant runs = {sim_all:g} "
          f"simulated s), analysis included:")
    print(f"  {wall:.1f} wall s (goal <= 60 for 7 x 1000), {cpu:.1f} CPU s, {sim_all / wall:.0f} sim-s/wall-s")
    cores = len(os.sched_getaffinity(0))
    # virtual time never waits for a timer: on an idle machine the wall time is about the CPU time over the cores
    print(f"  CPU s / {cores} cores = {cpu / cores:.1f} s: the wall time on this machine when nothing else runs")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
