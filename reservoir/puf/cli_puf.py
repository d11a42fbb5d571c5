"""`asicrc puf enrol|verify|evaluate`: device fingerprints on the simulator, stored on disk, measured honestly.

Exit codes: 0 success / accepted, 1 error, 3 verification rejected.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
from scipy.stats import t as student_t

from asicrc.drivers.atomicfile import atomic_write_text
from asicrc.drivers.seeds import stable_int

from .challenge import PUF_MODELS, default_challenge
from .evaluate import CONDITIONS, EvalConfig, evaluate, summarize
from .signature import SELECTABLE, extract_signature
from .simsource import run_challenge
from .store import Enrolment, EnrolmentStore
from .verify import Verifier

REJECTED = 3
DEFAULT_STORE = os.environ.get("ASICRC_PUF_STORE", "puf-store")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def device_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", choices=PUF_MODELS, default="lv06")
        p.add_argument("--serial", required=True, help="serial of the simulated device (seeds its silicon)")
        p.add_argument("--store", default=DEFAULT_STORE, help="enrolment directory (default: $ASICRC_PUF_STORE, else ./puf-store)")
        p.add_argument("--ambient", type=float, default=25.0, help="ambient temperature, degC")
        p.add_argument("--seed", type=int, default=0, help="session noise seed")
        p.add_argument("--step-s", type=float, default=60.0, help="duration of each challenge step, s")
        p.add_argument("--source", choices=("sim",), default="sim",
                       help="device source (only the in-process simulator is implemented)")

    enrol = sub.add_parser("enrol", help="measure a device's response and store its enrolment")
    device_args(enrol)
    enrol.add_argument("--device-id", help="stored identity (default: the serial, sanitised)")
    enrol.add_argument("--sessions", type=int, default=2, help="enrolment sessions (>= 2 to estimate noise)")
    enrol.add_argument("--append", action="store_true",
                       help="add the sessions to an existing enrolment (e.g. measured at another ambient)")

    verify = sub.add_parser("verify", help="measure a device again and match it against the enrolled set")
    device_args(verify)
    verify.add_argument("--claim", help="verify against this enrolled id (default: identify the nearest)")
    verify.add_argument("--group", choices=SELECTABLE, default="all",
                        help="feature group or signature to use (silicon = nonce+power; no_fan = all but fan)")
    verify.add_argument("--threshold", type=float, help="decision threshold (default: calibrated on the store)")
    verify.add_argument("--json", action="store_true", help="print the decision as JSON")

    ev = sub.add_parser("evaluate", help="FAR/FRR/EER with CIs over simulated devices and sessions")
    ev.add_argument("--model", choices=PUF_MODELS, default="lv06")
    ev.add_argument("--devices", type=int, default=20, help="held-out evaluation devices")
    ev.add_argument("--calibration-devices", type=int, default=8)
    ev.add_argument("--enrol-sessions", type=int, default=2)
    ev.add_argument("--verify-sessions", type=int, default=1, help="per condition")
    ev.add_argument("--ambient", type=float, default=25.0)
    ev.add_argument("--alt-ambient", type=float, default=32.0, help="ambient of the 'alt' sessions, degC")
    ev.add_argument("--seeds", type=int, nargs="+", default=[1], help="one evaluation per seed (new devices)")
    ev.add_argument("--age-days", type=float, default=180.0,
                    help="days between enrolment and the aged/field sessions (ageing, drift, fan wear)")
    ev.add_argument("--calibrate-on", default=",".join(CONDITIONS),
                    help="conditions of the calibration devices' sessions that set scales and threshold "
                         "(default all; e.g. same,alt for same-day sessions only)")
    ev.add_argument("--step-s", type=float, default=60.0)
    ev.add_argument("--bootstrap", type=int, default=500)
    ev.add_argument("--out", help="directory for report.json and the plots")


def _session_seed(base: int, serial: str, kind: str, k: int) -> int:
    return stable_int(f"{base}/{serial}/{kind}/{k}") & 0x7FFFFFFF


def _check_ambient(ambient_c: float, flag: str = "--ambient") -> None:
    if not -40 <= ambient_c <= 80:
        raise ValueError(f"{flag} must be -40..80 degC, got {ambient_c}")


def _enrol(args: argparse.Namespace) -> int:
    if args.sessions < 1:
        raise ValueError("--sessions must be >= 1")
    _check_ambient(args.ambient)
    device_id = args.device_id or re.sub(r"[^A-Za-z0-9_-]", "_", args.serial)[:64]
    challenge = default_challenge(args.model, step_s=args.step_s)
    store = EnrolmentStore(args.store)
    enrolment = Enrolment(device_id, args.model, args.serial, challenge, [], [])
    existing = store.path / f"{device_id}.json"
    if not args.append and existing.exists():
        raise ValueError(f"{device_id} is already enrolled ({existing}): use --append to add sessions, or "
                         "delete that file to enrol it afresh")
    if args.append:
        enrolment = store.load(device_id)
        if (enrolment.model, enrolment.serial, enrolment.challenge.digest) != (args.model, args.serial,
                                                                                challenge.digest):
            raise ValueError(f"{device_id} is enrolled as {enrolment.model}/{enrolment.serial} under challenge "
                             f"{enrolment.challenge.digest}: cannot append these sessions")
    first = len(enrolment.sessions)  # appended sessions continue the numbering: never a repeated noise seed
    for k in range(first, first + args.sessions):
        seed = _session_seed(args.seed, args.serial, "enrol", k)
        enrolment.sessions.append(extract_signature(run_challenge(args.serial, challenge, seed, args.ambient)))
        enrolment.ambient_c.append(args.ambient)
    path = store.save(enrolment)
    print(f"enrolled {device_id} ({args.model}, serial {args.serial}): {len(enrolment.sessions)} session(s) at "
          f"{sorted(set(enrolment.ambient_c))} C, {enrolment.sessions[0].values.size} features, "
          f"challenge {challenge.digest} -> {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    _check_ambient(args.ambient)
    if args.threshold is not None and not 0 < args.threshold < float("inf"):
        raise ValueError(f"--threshold must be a distance > 0, got {args.threshold}")
    store = EnrolmentStore(args.store)
    enrolments = store.load_all(model=args.model)
    if not enrolments:
        raise ValueError(f"no {args.model} enrolments in {args.store}: run `asicrc puf enrol` first")
    verifier = Verifier(enrolments, group=args.group, threshold=args.threshold)
    challenge = default_challenge(args.model, step_s=args.step_s)
    sig = extract_signature(run_challenge(args.serial, challenge, _session_seed(args.seed, args.serial, "verify", 0),
                                          args.ambient))
    decision = verifier.verify(sig, claim=args.claim)
    if args.json:
        print(json.dumps({"accepted": decision.accepted, "device_id": decision.device_id,
                          "distance": decision.distance, "threshold": decision.threshold,
                          "threshold_source": decision.threshold_source, "distances": decision.distances}))
    else:
        print(decision.summary())
    return 0 if decision.accepted else REJECTED


def _evaluate(args: argparse.Namespace) -> int:
    _check_ambient(args.ambient)
    _check_ambient(args.alt_ambient, "--alt-ambient")
    if args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be >= 1 resamples, got {args.bootstrap}")
    if not 0 <= args.age_days <= 7300:
        raise ValueError(f"--age-days must be 0..7300 days, got {args.age_days}")
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    eers: list[float] = []
    headline_eers: list[float] = []
    reports = []
    for seed in args.seeds:
        cfg = EvalConfig(model=args.model, devices=args.devices, calibration_devices=args.calibration_devices,
                         enrol_sessions=args.enrol_sessions, verify_sessions=args.verify_sessions,
                         ambient_c=args.ambient, alt_ambient_c=args.alt_ambient, seed=seed, step_s=args.step_s,
                         bootstrap=args.bootstrap, age_days=args.age_days,
                         calibration_conditions=tuple(c.strip() for c in str(args.calibrate_on).split(",")
                                                      if c.strip()))
        report = evaluate(cfg, progress=lambda m: print(m, file=sys.stderr) if sys.stderr.isatty() else None)
        reports.append(report)
        print(summarize(report))
        eers.append(report["groups"]["all"]["alt"]["eer"])
        if report["headline"] is not None:
            headline_eers.append(report["headline"]["eer"])
        if out:
            from .plots import plot_distances, plot_group_eer

            atomic_write_text(out / f"report_seed{seed}.json", json.dumps(report))
            plot_distances(report, out / f"distances_seed{seed}.png")
            if report["headline"] is not None:
                plot_distances(report, out / f"distances_{report['headline']['signature']}_seed{seed}.png",
                               report["headline"]["signature"])
            plot_group_eer(report, out / f"group_eer_seed{seed}.png")
    if len(eers) >= 2:
        _across_seeds(eers, "all features, other ambient")
        if len(headline_eers) == len(eers):
            _across_seeds(headline_eers, "headline signature, field")
    if out:
        print(f"reports and plots in {out}")
    return 0


def _across_seeds(eers: list[float], what: str) -> None:
    m, s = float(np.mean(eers)), float(np.std(eers, ddof=1))
    if s == 0:  # every seed gave the same EER (typically 0): a t-interval of width 0 would claim certainty
        print(f"across {len(eers)} seeds: EER ({what}) = {m:.4f} in every seed; no t-interval (zero spread); "
              "see the per-seed device-bootstrap intervals above")
    else:
        half = float(student_t.ppf(0.975, len(eers) - 1)) * s / np.sqrt(len(eers))
        print(f"across {len(eers)} seeds: EER ({what}) = {m:.4f} [{max(0.0, m - half):.4f}, {m + half:.4f}] "
              "(t-interval)")


def run(args: argparse.Namespace) -> int:
    if args.action == "enrol":
        return _enrol(args)
    if args.action == "verify":
        return _verify(args)
    return _evaluate(args)
