"""`asicrc tpf`: exact early reject, early-round predictor on SHA-256d, toy power check, telemetry variant.

Writes DIR/report.json and plots; prints a short verdict. Every number comes from held-out data.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from asicrc.drivers import strictjson
from asicrc.drivers.atomicfile import atomic_write_json

from ..outdir import default_out_dir
from .data import difficulty_to_rate, random_header, rate_to_difficulty
from .early_reject import measure_early_reject
from .gate import TpfGate, worst_seed_section
from .stats import mean_ci

DEFAULT_DIFFICULTY = 2.0**-24  # positive rate 1/256


def parse_rounds(text: str) -> list[int]:
    """'5', '1-8' or '1,3,5' -> list of k in 1..63."""
    ks: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                ks.extend(range(lo, hi + 1))
            else:
                ks.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rounds must look like 5, 1-8 or 1,3,5; got {text!r}") from None
    if not ks or any(not 1 <= k <= 60 for k in ks):
        raise argparse.ArgumentTypeError(f"--rounds values must be in 1..60, got {text!r}")
    return sorted(set(ks))


def _count(text: str) -> int:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count like 1e6, got {text!r}") from None
    if not math.isfinite(v) or v < 0 or v != int(v):
        raise argparse.ArgumentTypeError(f"expected a non-negative whole count, got {text!r}")
    return int(v)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def _delta(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--plant-leak expects a number in [0, 1], got {text!r}") from None
    if not (math.isfinite(v) and 0.0 <= v <= 1.0):
        raise argparse.ArgumentTypeError(f"--plant-leak must be in [0, 1], got {text!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", type=parse_rounds, default=[5], help="k: feature rounds, e.g. 5, 1-8, 1,3,5")
    p.add_argument("--hashes", type=_count, default=1_000_000, help="training hashes per seed and k (1e6)")
    p.add_argument("--test-hashes", type=_count, default=None, help="held-out hashes (default hashes/2)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--difficulty", type=_positive, default=None,
                   help="share difficulty of the label (Bitcoin convention; default 2^-24 = positive rate 1/256)")
    g.add_argument("--positive-rate", type=_positive, default=None, help="alternatively the label's positive rate")
    p.add_argument("--seeds", type=int, default=3, help="independent seeds (jobs) per k (default 3)")
    p.add_argument("--classifiers", default="logreg,hgb,mlp", help="comma list of logreg,hgb,mlp")
    p.add_argument("--toy-extra", type=int, default=3,
                   help="power check: label from a toy hash cut to k+N second-compression rounds (0 = skip)")
    p.add_argument("--plant-leak", type=_delta, default=None, metavar="DELTA",
                   help="positive control of the instrument: also run SHA-256d with a graded leak planted in the "
                        "labels, P(share) x (1 +- DELTA) by one state bit (off by default)")
    p.add_argument("--toy-hashes", type=_count, default=None, help="training hashes for the toy (default --hashes)")
    p.add_argument("--telemetry-seconds", type=_count, default=8000,
                   help="simulated seconds of device events for the telemetry variant (0 = skip)")
    p.add_argument("--recording", default=None,
                   help="also run the telemetry variant on a recorded run file DIR/NAME (asicrc.reservoir.recording)")
    p.add_argument("--window", type=_positive, default=2.0, help="telemetry label window in seconds")
    p.add_argument("--max-false-abort", type=float, default=0.05, help="false-abort budget for thresholds")
    p.add_argument("--alpha", type=float, default=0.01, help="gate significance level")
    p.add_argument("--effort", type=_positive, default=1.0, help="training passes multiplier (1 = default)")
    p.add_argument("--no-plots", action="store_true", help="skip PNG plots")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (report.json, *.png); default runs/tpf-<UTC time>")


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _line(label: str, rep: dict[str, Any], gate: TpfGate) -> str:
    best = ", ".join(f"{name} AUC {res['auc']['mean']:.4f}" for name, res in
                     next(iter(rep["summary"].values())).items() if not name.startswith("control_"))
    pw = rep["power"]
    seeds = pw["seeds"]
    sizes = pw["per_k"][str(rep["config"]["ks"][0])]["test_sizes"]
    detect = "leak detected" if rep["decision"]["leak_detected"] else "no leak detected"
    return (f"{label}: {best}; {detect}; gate {'ON' if gate.enabled else 'off'}: {gate.state()['reason']}; "
            f"detectable with {pw['target_power']:.0%} power: held-out AUC >= {pw['min_detectable_auc']:.4f} "
            f"(~{sizes[0][0]} test positives x {seeds} seeds; a one-bit leak needs delta >= "
            f"{pw['min_detectable_delta_oracle']:.3f} even for a perfect classifier)")


def _gate_for(section: dict[str, Any], args: argparse.Namespace) -> TpfGate:
    """Gate the section's evidence and attach its `decision` block."""
    from .power import decision

    gate = TpfGate(alpha=args.alpha, max_false_abort=args.max_false_abort)
    gate.update(section)
    section["decision"] = decision(section, gate.enabled, str(gate.state()["reason"]), args.alpha)
    return gate


def _telemetry(args: argparse.Namespace, seeds: list[int], classifiers: list[str]) -> tuple[dict[str, Any], TpfGate]:
    from .simstream import generate_events
    from .telemetry import run_telemetry_experiment

    runs = [run_telemetry_experiment(generate_events(s, float(args.telemetry_seconds)), args.window, s,
                                     classifiers, args.max_false_abort) for s in seeds]
    section: dict[str, Any] = {"source": "telemetry", "runs": runs, "summary": {c: {
        "auc": mean_ci([r["classifiers"][c]["auc"] for r in runs]),
        "energy_advantage": mean_ci([r["classifiers"][c]["energy_weighted"]["advantage"] for r in runs]),
        "auc_p_holm_per_seed": [r["classifiers"][c]["auc_p_holm"] for r in runs]} for c in classifiers}}
    from .power import decision

    gate = TpfGate(alpha=args.alpha, max_false_abort=args.max_false_abort)
    worst = worst_seed_section(runs, "telemetry")
    gate.update(worst)
    section["decision"] = decision(worst, gate.enabled, str(gate.state()["reason"]), args.alpha)
    aucs = ", ".join(f"{c} AUC {section['summary'][c]['auc']['mean']:.3f}" for c in classifiers)
    print(f"telemetry: {aucs}; gate {'ON' if gate.enabled else 'off'}: {gate.state()['reason']}")
    return section, gate


def _plots(report: dict[str, Any], out: Path, first_seed: int) -> list[str]:
    from .plots import plot_run

    plots: list[str] = []
    for name in ("sha256", "planted", "toy"):
        for r in report.get(name, {}).get("runs", []):
            if r["seed"] == first_seed:
                plots += plot_run(r, out, f"{name}_k{r['k']}", f"{name} k={r['k']}")
    if "telemetry" in report:
        plots += plot_run(report["telemetry"]["runs"][0], out, "telemetry", "telemetry")
    return plots


def run(args: argparse.Namespace) -> int:
    from .classifiers import CLASSIFIERS
    from .experiment import run_hash_experiment

    classifiers = [c.strip() for c in str(args.classifiers).split(",") if c.strip()]
    bad = [c for c in classifiers if c not in CLASSIFIERS]
    if bad or not classifiers:
        raise ValueError(f"unknown classifier {','.join(bad) or '(none)'} (choose from {', '.join(CLASSIFIERS)})")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if not 0 < args.alpha < 1:
        raise ValueError(f"--alpha must be in (0, 1), got {args.alpha}")
    if not 0 <= args.max_false_abort < 1:
        raise ValueError(f"--max-false-abort must be in [0, 1), got {args.max_false_abort}")
    difficulty = (rate_to_difficulty(args.positive_rate) if args.positive_rate is not None
                  else args.difficulty if args.difficulty is not None else DEFAULT_DIFFICULTY)
    rate = difficulty_to_rate(difficulty)
    if rate * args.hashes * 0.2 < 5:
        raise ValueError(f"difficulty {difficulty:g} gives ~{rate * args.hashes:.1f} positives in {args.hashes} hashes: "
                         "too few to evaluate; raise --hashes or use an easier difficulty (e.g. --positive-rate 1/256)")
    recorded_events = None
    if args.recording:  # read it before the long runs: a bad path must not cost them (or their report)
        from .recorded import load_recorded_events

        recorded_events = load_recorded_events(args.recording)
    out: Path = args.out if args.out is not None else default_out_dir("tpf")
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()
    report: dict[str, Any] = {"command": "asicrc tpf", "started_unix": time.time()}

    rng = np.random.default_rng(12345)
    report["early_reject"] = measure_early_reject(random_header(rng), np.arange(min(args.hashes, 1_000_000)), difficulty)
    er = report["early_reject"]
    print(f"exact early reject: {er['rounds_saved_fraction']:.2%} of rounds saved, speedup x{er['speedup_vs_full']:.3f},"
          f" identical accepts: {er['identical_accepts']}")

    gates: dict[str, TpfGate] = {}
    sha = run_hash_experiment(args.rounds, args.hashes, args.test_hashes, difficulty, seeds, classifiers,
                              None, args.max_false_abort, args.effort, progress=_progress, alpha=args.alpha)
    report["sha256"] = sha
    gates["sha256"] = _gate_for(sha, args)
    # the run's answer to the real question (SHA-256d) also at the top level
    report["power"], report["decision"] = sha["power"], sha["decision"]
    print(_line("SHA-256d", sha, gates["sha256"]))

    if args.plant_leak is not None:
        planted = run_hash_experiment(args.rounds, args.hashes, args.test_hashes, difficulty, seeds, classifiers,
                                      None, args.max_false_abort, args.effort, progress=_progress,
                                      plant_delta=args.plant_leak, alpha=args.alpha)
        report["planted"] = planted
        gates["planted"] = _gate_for(planted, args)
        oracle = planted["power"]["planted"]["oracle_auc_measured"]["mean"]
        print(_line(f"planted leak (delta {args.plant_leak:g}, best possible AUC {oracle:.4f})", planted,
                    gates["planted"]))

    if args.toy_extra > 0:
        toy = run_hash_experiment(args.rounds, args.toy_hashes or args.hashes, args.test_hashes, difficulty, seeds,
                                  classifiers, args.toy_extra, args.max_false_abort, args.effort,
                                  progress=_progress, alpha=args.alpha)
        report["toy"] = toy
        gates["toy"] = _gate_for(toy, args)
        print(_line(f"toy (k+{args.toy_extra} rounds)", toy, gates["toy"]))

    if args.telemetry_seconds > 0:
        report["telemetry"], gates["telemetry"] = _telemetry(args, seeds, classifiers)

    if recorded_events is not None:
        from .telemetry import run_telemetry_experiment

        rec = run_telemetry_experiment(recorded_events, args.window, 0, classifiers,
                                       args.max_false_abort)
        rec["recording"] = str(args.recording)
        report["telemetry_recording"] = rec
        gates["telemetry_recording"] = TpfGate(alpha=args.alpha, max_false_abort=args.max_false_abort)
        gates["telemetry_recording"].update(rec)
        print(f"recording {args.recording}: gate {'ON' if gates['telemetry_recording'].enabled else 'off'}: "
              f"{gates['telemetry_recording'].state()['reason']}")

    report["gate"] = {name: g.state() for name, g in gates.items()}
    report["seconds"] = time.perf_counter() - t0
    plots = [] if args.no_plots else _plots(report, out, seeds[0])
    report["plots"] = plots
    atomic_write_json(out / "report.json", strictjson.jsonable(report), indent=1, allow_nan=False)
    print(f"wrote {out / 'report.json'} and {len(plots)} plots in {report['seconds']:.0f} s")
    return 0
