"""`asicrc narma`: NARMA-10 on a device (or the software ESN) with every control beside it, or a replay."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from . import cli_sweep
from .analysis import AnalysisConfig
from .backends import BACKENDS, BackendOptions, make_backend
from .encoding import ENCODINGS, MODES, EncoderConfig
from .esn import EsnConfig
from .experiment import MIN_AFTER_WASHOUT, replay, run_experiment
from .outdir import default_out_dir
from .sweep import not_applicable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="sim:lv06", help=f"one of {', '.join(BACKENDS)} (default sim:lv06)")
    parser.add_argument("--steps", type=int, default=1000, help="NARMA steps per run (default 1000)")
    parser.add_argument("--seeds", type=int, default=7,
                        help="number of seeds (default 7: the fewest with which the Holm-adjusted decision over 2-3 "
                             "claims can reach p < 0.05)")
    parser.add_argument("--seed-base", type=int, default=0, help="first seed (seeds are base..base+K-1)")
    parser.add_argument("--out", type=Path, help="new output directory (recording + report.json + PNGs); default "
                                                 "runs/narma-<UTC time> (with --replay: the replayed directory)")
    parser.add_argument("--replay", type=Path, metavar="DIR", help="re-analyse a recording directory offline")
    parser.add_argument("--mode", choices=[m for m in MODES if m != "constant"], default="monologue",
                        help="drive mode (the constant control always runs as well)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="difficulty")
    parser.add_argument("--step-s", type=float, default=1.0, help="simulated seconds per step (default 1.0)")
    parser.add_argument("--clock", choices=("virtual", "wall"), default="virtual",
                        help="sim backends: on virtual time (default: as fast as the CPU allows, the same seeds "
                             "give the same report.json) or against the wall clock at --speed")
    parser.add_argument("--speed", type=float, default=15.0,
                        help="with --clock wall: simulated seconds per wall second (default 15)")
    parser.add_argument("--parallel", type=int, default=5,
                        help="runs driven at once; each has its own server and device (default 5)")
    parser.add_argument("--virtual-nodes", type=int, default=1, help="sub-windows per step (default 1)")
    parser.add_argument("--d-base", type=float, default=None,
                        help="difficulty encoding D = d_base/(u+eps) (default: ~8 shares per step at mean u)")
    parser.add_argument("--washout", type=int, default=200,
                        help="first steps dropped (default 200); --steps must be >= washout + "
                             f"{MIN_AFTER_WASHOUT}")
    parser.add_argument("--train-fraction", type=float, default=0.8,
                        help="share of the steps after the washout used for training (default 0.8)")
    parser.add_argument("--esn-units", type=int, default=100,
                        help="size of the esn backend (its other settings scale with size: EsnConfig.for_units)")
    parser.add_argument("--esn-ref-units", type=int, default=100,
                        help="size of the esn_ref reference reservoir (default 100); its input scaling and bias are "
                             "chosen per seed by CV on the training block")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sub = parser.add_subparsers(dest="narma_command", metavar="{sweep}")
    cli_sweep.add_arguments(sub.add_parser("sweep", help="time-scale map: step time x encoding x model"))


def min_steps(washout: int) -> int:
    """Shortest run the analysis accepts: the washout plus at least MIN_AFTER_WASHOUT steps to split."""
    return washout + MIN_AFTER_WASHOUT


def usage_problem(args: argparse.Namespace) -> str | None:
    """The first usage error of a recording run (checked before any backend starts), or None."""
    if args.seeds < 1 or args.steps < 1:
        return "--seeds and --steps must be >= 1"
    if args.washout < 0:
        return f"--washout must be >= 0, got {args.washout}"
    if args.esn_units < 1 or args.esn_ref_units < 1:
        return f"--esn-units and --esn-ref-units must be >= 1, got {args.esn_units} and {args.esn_ref_units}"
    if not 0.0 < args.train_fraction < 1.0:
        return f"--train-fraction must be in (0, 1), got {args.train_fraction}"
    for flag, value in (("--step-s", args.step_s), ("--speed", args.speed)):
        if not (math.isfinite(value) and value > 0):
            return f"{flag} must be a number > 0, got {value}"
    if args.parallel < 1 or args.virtual_nodes < 1:
        return f"--parallel and --virtual-nodes must be >= 1, got {args.parallel} and {args.virtual_nodes}"
    if args.d_base is not None and not (math.isfinite(args.d_base) and args.d_base > 0):
        return f"--d-base must be a number > 0, got {args.d_base}"
    if args.backend.startswith("sim:") and args.backend in BACKENDS:
        # what the device's transport and safety envelope refuse, said before experiment.json is written (a
        # refusal found by the first run left an --out that only --replay would take)
        why = not_applicable(args.backend.removeprefix("sim:"), args.encoding, args.step_s / args.virtual_nodes)
        if why is not None:
            return f"--encoding {args.encoding} on {args.backend}: {why}"
    if args.steps < min_steps(args.washout):
        return (f"--steps {args.steps} is too short for --washout {args.washout}: need --steps >= "
                f"{min_steps(args.washout)} (washout + {MIN_AFTER_WASHOUT} for the train/test split)"
                + (", or a smaller --washout" if args.washout > 0 else ""))
    return None


def run(args: argparse.Namespace) -> int:
    if args.narma_command == "sweep":  # add_subparsers(dest=...) sets it, None without a subcommand
        return cli_sweep.run(args)
    if args.replay is not None:
        report = replay(args.replay, args.out)
        print(report["verdict"])
        print(f"report: {(args.out or args.replay) / 'report.json'}")
        return 0
    problem = usage_problem(args)
    if problem:
        print(f"asicrc narma: error: {problem}", file=sys.stderr)
        return 2
    if args.out is None:
        args.out = default_out_dir("narma")
    encoder = EncoderConfig(encoding=args.encoding, mode=args.mode, d_base=args.d_base,
                            virtual_nodes=args.virtual_nodes)
    options = BackendOptions(encoder=encoder, step_s=args.step_s, clock_speed=args.speed,
                             virtual_time=args.clock == "virtual",
                             esn=EsnConfig.for_units(args.esn_units), parallel=args.parallel)
    backend = make_backend(args.backend, options)
    settings = {"encoding": args.encoding, "mode": args.mode, "step_s": args.step_s, "clock": args.clock,
                "speed": args.speed,
                "virtual_nodes": args.virtual_nodes, "d_base": args.d_base, "esn_units": args.esn_units,
                "parallel": args.parallel, "esn_ref_units": args.esn_ref_units}
    seeds = list(range(args.seed_base, args.seed_base + args.seeds))
    report = run_experiment(backend, args.steps, seeds, args.out, mode=args.mode,
                            analysis=AnalysisConfig(washout=args.washout, train_fraction=args.train_fraction,
                                                    esn_ref=EsnConfig.for_units(args.esn_ref_units)),
                            settings=settings, show_progress=not args.no_progress, parallel=args.parallel)
    print(report["verdict"])
    print(f"report: {args.out / 'report.json'}")
    return 0
