"""`asicrc narma sweep`: the time-scale map (asicrc.reservoir.sweep) from the command line."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .backend_api import BackendOptions
from .outdir import default_out_dir
from .sweep import SWEEP_ENCODINGS, SWEEP_MODELS, SWEEP_STEPS_S, SweepConfig, run_sweep

_DEFAULT = SweepConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", default=list(SWEEP_MODELS),
                        help=f"simulated models (default {' '.join(SWEEP_MODELS)})")
    parser.add_argument("--encodings", nargs="+", default=list(SWEEP_ENCODINGS), choices=SWEEP_ENCODINGS,
                        help=f"input encodings (default {' '.join(SWEEP_ENCODINGS)})")
    parser.add_argument("--steps-s", nargs="+", type=float, default=list(SWEEP_STEPS_S), dest="sweep_steps_s",
                        metavar="S", help=f"step times in seconds (default {' '.join(f'{s:g}' for s in SWEEP_STEPS_S)})")
    parser.add_argument("--steps", type=int, default=_DEFAULT.steps, help="NARMA steps per run (default 600)")
    parser.add_argument("--seeds", type=int, default=_DEFAULT.seeds, help="seeds per cell (default 7)")
    parser.add_argument("--seed-base", type=int, default=0, help="first seed")
    parser.add_argument("--washout", type=int, default=_DEFAULT.washout,
                        help="steps dropped (default 50; >= 40 for memory capacity)")
    parser.add_argument("--parallel", type=int, default=_DEFAULT.options.parallel, help="runs driven at once")
    parser.add_argument("--out", type=Path, help="output directory (an existing sweep is resumed: cells with a "
                                                 "report.json are not run again); default runs/sweep-<UTC time>")
    parser.add_argument("--no-run", action="store_true",
                        help="run nothing: map the cells of --out that have a report (the others: not run)")
    parser.add_argument("--no-progress", action="store_true", help="no per-cell lines on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = SweepConfig(models=tuple(args.models), encodings=tuple(args.encodings),
                          steps_s=tuple(args.sweep_steps_s), steps=args.steps, seeds=args.seeds,
                          seed_base=args.seed_base, washout=args.washout,
                          options=replace(BackendOptions(), parallel=args.parallel))
    except ValueError as exc:
        print(f"asicrc narma sweep: error: {exc}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else default_out_dir("sweep")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    sweep = run_sweep(cfg, out, log=None if args.no_progress else log, run_missing=not args.no_run)
    f = sweep["findings"]
    print(f"{f['cells_run']} cells run, {f['cells_not_applicable']} not applicable; device adds over lags10 in "
          f"{len(f['adds_over_lags10'])}: {', '.join(f['adds_over_lags10']) or 'none'}")
    print(f"sweep: {out / 'sweep.json'}")
    return 0
