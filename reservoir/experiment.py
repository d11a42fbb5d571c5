"""A NARMA-10 experiment: for each seed, drive the backend with u (and with the constant control), record both
runs, analyse them against the controls, and write report.json plus plots. ``replay`` recomputes the report
from a recording directory alone.

Directory layout:
  experiment.json                      backend, steps, seeds, split, options, versions
  runs/seed<S>_drive.{npz,json}        see asicrc.reservoir.recording
  runs/seed<S>_constant.{npz,json}
  report.json, prediction.png, nrmse_bars.png, memory_capacity.png, ipc.png
  timing.json                          wall seconds and start time (kept out of report.json: on virtual time the
                                       same seeds give the same report.json, bit for bit)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from asicrc.drivers import strictjson
from asicrc.drivers.atomicfile import atomic_write_json
from asicrc.drivers.looprun import run_on_loop

from .analysis import AnalysisConfig, SeedResult, analyze_seed, summarize
from .backends import Backend, ProgressFn
from .esn import EsnConfig
from .features import extract_features
from .ipc import IpcConfig
from .narma import NarmaSeries, generate_narma10
from .plots import plot_ipc, plot_memory, plot_nrmse_bars, plot_prediction
from .progress import Progress
from .recording import RunRecord, load_run, save_run, versions

T = TypeVar("T")
MIN_AFTER_WASHOUT = 101  # steps left after the washout for the chronological train/test split
REPORT_FILES = ("report.json", "prediction.png", "nrmse_bars.png", "memory_capacity.png", "ipc.png")


def run_experiment(backend: Backend, steps: int, seeds: list[int], out: Path, mode: str = "monologue",
                   analysis: AnalysisConfig | None = None, settings: dict[str, Any] | None = None,
                   show_progress: bool = True, parallel: int = 1) -> dict[str, Any]:
    cfg = analysis or AnalysisConfig()
    if steps < cfg.washout + MIN_AFTER_WASHOUT:
        raise ValueError(f"--steps {steps} is too short for --washout {cfg.washout}: need --steps >= "
                         f"{cfg.washout + MIN_AFTER_WASHOUT} (washout + {MIN_AFTER_WASHOUT} for the train/test split)")
    if not seeds:
        raise ValueError("need at least one seed")
    if cfg.washout < 0:
        raise ValueError(f"--washout must be >= 0, got {cfg.washout}")
    if (out / "experiment.json").exists():  # never overwrite a recording: it is the source of truth
        raise ValueError(f"{out} already holds an experiment (experiment.json): choose another --out, or "
                         f"re-analyse it with --replay {out}")
    out.mkdir(parents=True, exist_ok=True)
    exp = {"backend": backend.name, "steps": steps, "seeds": seeds, "mode": mode,
           "analysis": {"washout": cfg.washout, "train_fraction": cfg.train_fraction, "mc_kmax": cfg.mc_kmax,
                        "esn_ref": cfg.esn_ref.as_dict(), "esn_ref_cv": cfg.esn_ref_cv,
                        "ipc": None if cfg.ipc is None else cfg.ipc.as_dict()},
           "settings": settings or {}, "versions": versions(), "started_unix": time.time()}
    atomic_write_json(out / "experiment.json", exp, indent=2, default=str)
    bar = Progress(2 * steps * len(seeds), f"narma {backend.name}") if show_progress else None
    advance = bar.advance if bar is not None else None
    t0 = time.monotonic()
    series = {seed: generate_narma10(steps, seed) for seed in seeds}
    runs = run_bounded(_drive_all(backend, series, mode, parallel, advance))
    results: list[SeedResult] = []
    for seed in seeds:
        drive, constant = runs[seed]
        drive.meta["narma_rejected_draws"] = series[seed].rejected_draws
        save_run(out / "runs", f"seed{seed}_drive", drive)
        save_run(out / "runs", f"seed{seed}_constant", constant)
        results.append(analyze_seed(drive, constant, seed, cfg))
    return write_report(results, out, exp, wall_s=time.monotonic() - t0)


def run_bounded(coro: Coroutine[Any, Any, T], cleanup_timeout_s: float = 10.0) -> T:
    """asyncio.run, except that tasks left behind by device code get a bounded time to finish after being
    cancelled: a component that swallows cancellation must not hang the experiment after its data is in."""
    return run_on_loop(asyncio.new_event_loop(), lambda: coro, cleanup_timeout_s, "device task")


async def _drive_all(backend: Backend, series: dict[int, NarmaSeries], mode: str, parallel: int,
                     advance: ProgressFn | None) -> dict[int, tuple[RunRecord, RunRecord]]:
    """Drive and constant runs of every seed, at most `parallel` at once (each run owns its device)."""
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    gate = asyncio.Semaphore(parallel)

    async def one(seed: int, run_mode: str) -> RunRecord:
        async with gate:
            s = series[seed]
            return await backend.drive(s.u, s.target, run_mode, seed, advance)

    seeds = list(series)
    done = await asyncio.gather(*(one(seed, m) for seed in seeds for m in (mode, "constant")))
    return {seed: (done[2 * i], done[2 * i + 1]) for i, seed in enumerate(seeds)}


def _features_from_recording(run: RunRecord) -> RunRecord:
    """Recompute device features from the recorded events, so a replay does not trust stored features."""
    if run.meta.get("feature_source") != "events":
        return run
    fm = extract_features(run.events, run.bounds_ns, int(run.meta.get("virtual_nodes", 1)),
                          int(run.meta.get("chip_bins", 8)))
    run.features, run.feature_names = fm.values, fm.names
    return run


def replay(directory: Path, out: Path | None = None) -> dict[str, Any]:
    exp_path = directory / "experiment.json"
    if not exp_path.exists():
        raise ValueError(f"{directory} is not a recording directory (no experiment.json)")
    exp = json.loads(exp_path.read_text())
    a = exp.get("analysis", {})
    ipc = a.get("ipc", {})  # recordings from before IPC existed: the default configuration
    cfg = AnalysisConfig(washout=int(a.get("washout", 200)), train_fraction=float(a.get("train_fraction", 0.8)),
                         ipc=None if ipc is None else IpcConfig.from_dict(ipc),
                         esn_ref=EsnConfig.from_dict(a.get("esn_ref", {})),
                         esn_ref_cv=bool(a.get("esn_ref_cv", False)),  # older recordings: the fixed reference
                         mc_kmax=int(a.get("mc_kmax", 40)))
    t0 = time.monotonic()
    results = []
    for seed in exp["seeds"]:
        drive = _features_from_recording(load_run(directory / "runs", f"seed{seed}_drive"))
        constant = _features_from_recording(load_run(directory / "runs", f"seed{seed}_constant"))
        results.append(analyze_seed(drive, constant, int(seed), cfg))
    exp["replayed_from"] = str(directory)
    return write_report(results, out or directory, exp, wall_s=time.monotonic() - t0)


def write_report(results: list[SeedResult], out: Path, exp: dict[str, Any], wall_s: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    wall_clock = ("started_unix",)  # when and how long: timing.json, so that report.json is the result alone
    report = {"experiment": {k: v for k, v in exp.items() if k not in wall_clock},
              "metric": "NRMSE = RMSE/std(target) on the held-out test block", **summary,
              "per_seed": [{"seed": r.seed, "metrics": r.metrics, "esn_ref": r.esn_ref, "memory_total": {
                  k: v["total"] for k, v in r.memory.items()}} for r in results]}
    atomic_write_json(out / "report.json", strictjson.jsonable(report), indent=2, allow_nan=False)
    atomic_write_json(out / "timing.json", {"wall_seconds": wall_s, "started_unix": exp.get("started_unix")},
                      indent=2)
    best = summary["tests"]["device_vs_best_input_only"]["control"]
    plot_prediction(results[0], best, out / "prediction.png")
    plot_nrmse_bars(summary, out / "nrmse_bars.png")
    plot_memory(summary, out / "memory_capacity.png")
    plot_ipc(summary, out / "ipc.png")
    return report


