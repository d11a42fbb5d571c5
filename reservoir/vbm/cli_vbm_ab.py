"""`asicrc vbm-ab`: run the virtual block manager A/B experiment (asicrc.reservoir.vbm.ab) and print its verdict."""

from __future__ import annotations

import argparse
import asyncio
import json

from .ab import AB_MODELS, AbConfig, run_ab, summarize


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = AbConfig()
    parser.formatter_class = argparse.ArgumentDefaultsHelpFormatter  # every option's help shows its default
    parser.add_argument("--model", choices=AB_MODELS, default=d.model, help="simulated miner model")
    parser.add_argument("--devices", type=int, default=d.devices, help="simulated miners (1..8)")
    parser.add_argument("--blocks", type=int, default=d.blocks, help="alternating OFF/ON blocks (even)")
    parser.add_argument("--block-s", type=float, default=d.block_s, help="simulated seconds per block")
    parser.add_argument("--clock", choices=("virtual", "wall"), default=d.clock,
                        help="virtual: the rig on a virtual-time loop with an in-memory loopback network (round "
                             "trips cost exactly --latency-ms, as fast as the CPU allows, reproducible); wall: "
                             "real loopback sockets on a clock at --speed")
    parser.add_argument("--speed", type=float, default=d.speed, help="simulated seconds per wall second (--clock wall)")
    parser.add_argument("--shares-per-s", type=float, default=d.shares_per_s, help="per device (sets difficulty)")
    parser.add_argument("--no-clean", action="store_true", help="VBM jobs with clean_jobs=False")
    parser.add_argument("--prefetch", type=int, default=d.prefetch, help="pre-generated jobs the VBM keeps ready per job source")
    parser.add_argument("--upstream-sessions", type=int, default=d.upstream_sessions,
                        help="local job sessions the VBM rotates (without --upstream-pools)")
    parser.add_argument("--upstream-pools", type=int, default=d.upstream_pools,
                        help="run N pools on 127.0.0.1 behind the upstream proxy; the VBM rotates those real "
                             "upstream sessions")
    parser.add_argument("--miner", choices=("stratum", "stop_and_wait"), default=d.miner,
                        help="stratum: keeps hashing the job it holds (every real miner); stop_and_wait: idles "
                             "after each share until the pool sends a new job (the paper's premise)")
    parser.add_argument("--latency-ms", type=float, default=d.latency_s * 1e3,
                        help="one-way miner<->pool delay in simulated ms (round trip = 2x)")
    parser.add_argument("--job-interval-s", type=float, default=d.job_interval_s,
                        help="the pool's periodic new job, simulated seconds")
    parser.add_argument("--seed", type=int, default=d.seed, help="simulator seed (device serials and variation)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--block-s", args.block_s), ("--speed", args.speed), ("--shares-per-s", args.shares_per_s),
                        ("--job-interval-s", args.job_interval_s)):
        if not 0 < value < float("inf"):
            raise ValueError(f"{flag} must be a number > 0, got {value}")
    if not 0 <= args.latency_ms <= 2000:
        raise ValueError(f"--latency-ms must be 0..2000, got {args.latency_ms}")
    cfg = AbConfig(model=args.model, devices=args.devices, blocks=args.blocks, block_s=args.block_s,
                   speed=args.speed, shares_per_s=args.shares_per_s, clean_jobs=not args.no_clean,
                   prefetch=args.prefetch, upstream_sessions=args.upstream_sessions,
                   upstream_pools=args.upstream_pools, seed=args.seed, miner=args.miner,
                   latency_s=args.latency_ms / 1e3, job_interval_s=args.job_interval_s, clock=args.clock)
    report = asyncio.run(run_ab(cfg))
    print(json.dumps(report, indent=1) if args.json else summarize(report))
    return 0
