"""Speed of the PUF pipeline, and what the VBM does to idle time and share latency.

Printed ratios, all measured in this run:
- PUF: simulated challenge seconds per wall second for one session (the in-process source; real time = 1);
- PUF: warm-up by `Physics.settle()` vs running the warm-up time (wall time ratio; die temperature difference
  printed beside it, must be small);
- PUF: wall time of a full evaluation (devices x sessions) vs running the same challenges in real time;
- VBM: server-side share -> next job gap with the VBM ON vs the periodic-job reference (OFF), same server,
  same client, same share count.

    .venv/bin/python bench/bench_puf.py [--model lv06] [--shares 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time

from asicrc.drivers.clock import REAL_TIME
from asicrc.drivers.events import FanOut
from asicrc.drivers.rig import start_pool
from asicrc.drivers.sim import Physics, find_shares, sim_params
from asicrc.drivers.stratum.client import StratumClient
from asicrc.drivers.stratum.server import ServerConfig
from asicrc.drivers.stratum.vbm import VbmConfig, VirtualBlockManager
from asicrc.reservoir.puf.challenge import PUF_MODELS, default_challenge
from asicrc.reservoir.puf.evaluate import EvalConfig, simulate
from asicrc.reservoir.puf.simsource import MEASURE_SUBSTEP_S, run_challenge


def bench_puf(model: str) -> None:
    ch = default_challenge(model)
    t0 = time.perf_counter()
    run_challenge("BENCH-1", ch, session_seed=1)
    wall = time.perf_counter() - t0
    print(f"puf session ({model}): {ch.duration_s + ch.warmup_s:.0f} simulated s in {wall:.3f} s wall "
          f"-> {(ch.duration_s + ch.warmup_s) / wall:.0f}x real time")

    spec = dataclasses.replace(sim_params(model), max_substep_s=MEASURE_SUBSTEP_S)
    t0 = time.perf_counter()
    ref = Physics(spec, "BENCH-1", start_warm=False)  # reference: run warmup_s of simulated time
    ref.set_fan(ch.fan_percent)
    ref.set_frequency(ch.steps[0].frequency_mhz * 1e6)
    ref.advance(ch.warmup_s)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = Physics(spec, "BENCH-1", start_warm=False)  # ours: jump to the steady state (settle)
    ours.set_fan(ch.fan_percent)
    ours.set_frequency(ch.steps[0].frequency_mhz * 1e6)
    ours.settle()
    t_ours = time.perf_counter() - t0
    print(f"warm-up: settle() / running {ch.warmup_s:.0f} s wall time = {t_ours / t_ref:.3f} "
          f"(max die difference {abs(ours.t_die - ref.t_die).max():.4f} K)")

    # EvalConfig.validate() needs >= 3 calibration devices (leave-one-out calibration); 2 crashed this bench
    cfg = EvalConfig(model=model, devices=4, calibration_devices=3, step_s=60)
    t0 = time.perf_counter()
    simulate(cfg)
    wall = time.perf_counter() - t0
    sessions = (cfg.devices + cfg.calibration_devices) * (cfg.enrol_sessions + 2 * cfg.verify_sessions)
    real = sessions * (ch.duration_s + ch.warmup_s)
    print(f"evaluation sample: {sessions} sessions in {wall:.2f} s wall vs {real / 3600:.1f} h in real time "
          f"-> ratio {wall / real:.2e}")


async def bench_vbm(shares: int) -> None:
    server = await start_pool(ServerConfig(difficulty=2**-16, min_difficulty=1e-12, job_interval_s=1.0),
                              fanout=FanOut(), clock=REAL_TIME)
    vbm = VirtualBlockManager(server, VbmConfig(enabled=False))
    await vbm.start()
    client = StratumClient("127.0.0.1", server.port, "bench.vbm", version_rolling=None)
    await client.connect()
    await client.wait_job(timeout_s=5)
    gaps: dict[str, float] = {}
    k = 0
    for arm in ("off", "on"):
        vbm.enable() if arm == "on" else vbm.disable()
        vbm.meter.reset()
        for _ in range(shares):
            k += 1
            job = client.job
            assert job is not None
            share = find_shares(job, k.to_bytes(client.extranonce2_size, "little"), 1)[0]
            await client.submit(share.job_id, share.extranonce2, share.ntime, share.nonce)
            await client.wait_job(newer_than=job, timeout_s=5)
        gaps[arm] = statistics.median(vbm.meter.gaps_s)
    await client.close()
    await vbm.stop()
    await server.stop()
    print(f"vbm: median share->job gap ON {gaps['on'] * 1e3:.2f} ms vs OFF (1 s job broadcasts) "
          f"{gaps['off'] * 1e3:.0f} ms -> ratio {gaps['on'] / gaps['off']:.4f}; whether that gap costs hashrate "
          "is what `asicrc vbm-ab` measures")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="lv06", choices=PUF_MODELS)
    p.add_argument("--shares", type=int, default=30)
    a = p.parse_args()
    bench_puf(a.model)
    asyncio.run(bench_vbm(a.shares))


if __name__ == "__main__":
    main()
