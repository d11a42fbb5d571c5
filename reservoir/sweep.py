"""`asicrc narma sweep`: the time-scale map. Where, if anywhere, can a mining ASIC's physics serve as a reservoir?

Grid: step time x input encoding x simulated model (LV06, S9, and the planted and inert controls beside them).
Every applicable cell is a full NARMA-10 experiment (asicrc.reservoir.experiment: the same seeds, controls and
Holm-adjusted decision as `asicrc narma`), written to ``<out>/cells/<model>-<encoding>-<step>s/``. A cell is not
applicable, and says why, when the model's transport cannot change the knob (the S9's stock API is read-only) or
when the step is shorter than the safety envelope's settle time for that knob (frequency/voltage: 10 s).

Per cell the map keeps: NRMSE of device+lags10 and of lags10 (the ablation: does the device add anything over its
input's last 10 values?), the decision booleans, the linear memory capacity of the device features, and the
ratio step / dominant thermal time constant of the model at its stock operating point (the physics' own memory:
a low-pass with that time constant remembers about tau/step steps).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from asicrc.drivers import strictjson
from asicrc.drivers.atomicfile import atomic_write_json
from asicrc.drivers.registry import model_data

from .analysis import AnalysisConfig
from .backends import BackendOptions, make_backend
from .encoding import KNOB_ENCODINGS, KNOB_SETTINGS
from .experiment import MIN_AFTER_WASHOUT, run_experiment

SWEEP_MODELS = ("lv06", "s9", "inert", "planted")
SWEEP_ENCODINGS = ("difficulty", "job", "frequency", "voltage", "fan")
SWEEP_STEPS_S = (1.0, 3.0, 10.0, 30.0)
MEMORY_MIN_WASHOUT = AnalysisConfig().mc_kmax  # memory capacity needs the washout to cover its longest lag


def physics_tick_s(step_s: float) -> float:
    """Physics tick for a step: a tenth of the step, within [0.1, 3] s. Actuation latency stays a small part of
    the step, and the thermal network keeps its <= 0.25 s integration sub-steps whatever the tick."""
    return min(max(step_s / 10.0, 0.1), 3.0)


@dataclass(frozen=True, slots=True)
class SweepConfig:
    models: tuple[str, ...] = SWEEP_MODELS
    encodings: tuple[str, ...] = SWEEP_ENCODINGS
    steps_s: tuple[float, ...] = SWEEP_STEPS_S
    steps: int = 600
    seeds: int = 7
    seed_base: int = 0
    washout: int = 50
    options: BackendOptions = field(default_factory=BackendOptions)

    def __post_init__(self) -> None:
        for m in self.models:
            data = model_data(m)  # UnknownModel names the known ones
            if not data.simulated or data.pool != "bitcoin":
                raise ValueError(f"the sweep runs simulated Bitcoin miners; {m!r} is not one")
        for e in self.encodings:
            if e not in SWEEP_ENCODINGS:
                raise ValueError(f"unknown encoding {e!r} (choose from {', '.join(SWEEP_ENCODINGS)})")
        if not self.steps_s or any(not (math.isfinite(s) and s > 0) for s in self.steps_s):
            raise ValueError(f"step times must be > 0 seconds, got {list(self.steps_s)}")
        if self.seeds < 1:
            raise ValueError(f"--seeds must be >= 1, got {self.seeds}")
        if self.washout < 0 or self.steps < self.washout + MIN_AFTER_WASHOUT:
            raise ValueError(f"--steps {self.steps} is too short for --washout {self.washout}: need --steps >= "
                             f"{self.washout + MIN_AFTER_WASHOUT}")


def not_applicable(model: str, encoding: str, step_s: float) -> str | None:
    """Why a cell cannot run (the model's transport or its safety envelope), or None."""
    if encoding not in KNOB_ENCODINGS:
        return None
    data = model_data(model)
    setting = KNOB_SETTINGS[encoding]
    if setting not in data.settable:
        return f"{data.display_name} cannot change {setting} over its transport"
    settle = data.envelope.range_for(setting).settle_s
    if step_s < settle:
        return f"step {step_s:g} s is shorter than the envelope's {settle:g} s settle time for {setting}"
    return None


def thermal_tau_s(model: str) -> float:
    """Dominant time constant (s) of the model's linearised thermal network at its stock settings."""
    from asicrc.drivers.sim import Physics, sim_params  # the simulator only when a sweep runs

    return float(Physics(sim_params(model), f"TAU-{model}", 0).dominant_time_constant_s())


def cell_name(model: str, encoding: str, step_s: float) -> str:
    return f"{model}-{encoding}-{step_s:g}s"


def _mean(report: dict[str, Any], model: str) -> float | None:
    m = report["models"].get(model)
    return None if m is None else float(m["nrmse"]["mean"])


def summarize_cell(report: dict[str, Any]) -> dict[str, Any]:
    """What the map keeps of one cell's report.json."""
    decision = report.get("decision", {})
    ablation = report["tests"]["device_plus_lags10_vs_lags10"]
    memory = report.get("memory_capacity", {}).get("device")
    return {
        "nrmse_device": _mean(report, "device"),
        "nrmse_lags10": _mean(report, "lags10"),
        "nrmse_device_plus_lags10": _mean(report, "device+lags10"),
        "nrmse_commanded20": _mean(report, "commanded20"),
        "ablation_mean_diff": float(ablation["mean_diff"]),
        "ablation_p_holm": float(ablation.get("p_wilcoxon_holm", ablation["p_wilcoxon"])),
        "adds_over_lags10": decision.get("adds_over_lags10"),
        "adds_over_commanded20": decision.get("adds_over_commanded20"),
        "beats_best_input_only": decision.get("beats_best_input_only"),
        "memory_capacity_device": None if memory is None else float(memory["mean"]),
    }


RunCell = Callable[[str, str, float, Path], dict[str, Any]]


def _run_cell(cfg: SweepConfig, show_progress: bool) -> RunCell:
    def run(model: str, encoding: str, step_s: float, out: Path) -> dict[str, Any]:
        options = replace(cfg.options, step_s=step_s, encoder=replace(cfg.options.encoder, encoding=encoding),
                          physics_tick_s=physics_tick_s(step_s))
        backend = make_backend(f"sim:{model}", options)
        seeds = list(range(cfg.seed_base, cfg.seed_base + cfg.seeds))
        return run_experiment(backend, cfg.steps, seeds, out, mode=cfg.options.encoder.mode,
                              analysis=AnalysisConfig(washout=cfg.washout),
                              settings={"encoding": encoding, "step_s": step_s, "sweep_cell": True},
                              show_progress=show_progress, parallel=cfg.options.parallel)

    return run


def run_sweep(cfg: SweepConfig, out: Path, show_progress: bool = False, run_cell: RunCell | None = None,
              log: Callable[[str], None] | None = None, run_missing: bool = True) -> dict[str, Any]:
    """Run every applicable cell (skipping cells whose report already exists: a sweep can be resumed) and write
    ``<out>/sweep.json`` plus the heatmaps. ``run_missing=False`` maps the cells already run and marks the others
    "not run" (a grid assembled from several partial sweeps into one directory)."""
    from .sweep_plots import plot_sweep  # matplotlib only when a sweep is written

    run = run_cell or _run_cell(cfg, show_progress)
    out.mkdir(parents=True, exist_ok=True)
    taus = {m: thermal_tau_s(m) for m in cfg.models}
    cells: list[dict[str, Any]] = []
    for model in cfg.models:
        for encoding in cfg.encodings:
            for step_s in cfg.steps_s:
                cell: dict[str, Any] = {"model": model, "encoding": encoding, "step_s": step_s,
                                        "step_over_tau": step_s / taus[model]}
                why = not_applicable(model, encoding, step_s)
                if why is not None:
                    cells.append(cell | {"applicable": False, "reason": why})
                    continue
                cdir = out / "cells" / cell_name(model, encoding, step_s)
                if (cdir / "report.json").exists():
                    report = _read_cell_report(cdir / "report.json")
                elif not run_missing:
                    cells.append(cell | {"applicable": True, "run": False})
                    continue
                else:
                    report = run(model, encoding, step_s, cdir)
                cells.append(cell | {"applicable": True, "run": True, "dir": str(cdir.relative_to(out))}
                             | _summary_of(report, cdir / "report.json"))
                if log is not None:
                    c = cells[-1]
                    log(f"{cell_name(model, encoding, step_s)}: device+lags10 {c['nrmse_device_plus_lags10']:.3f} vs "
                        f"lags10 {c['nrmse_lags10']:.3f}, adds_over_lags10={c['adds_over_lags10']}")
    sweep = {"config": _config_dict(cfg), "thermal_tau_s": taus, "cells": cells, "findings": findings(cells)}
    atomic_write_json(out / "sweep.json", strictjson.jsonable(sweep), indent=2, allow_nan=False)
    plot_sweep(sweep, out)
    return sweep


def _read_cell_report(path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: not a narma report.json ({exc})") from None
    if not isinstance(report, dict):
        raise ValueError(f"{path}: not a narma report.json (not a JSON object)")
    return report


def _summary_of(report: dict[str, Any], path: Path) -> dict[str, Any]:
    """summarize_cell, with a report that lacks what a cell needs (another tool's file, an old format) named."""
    try:
        return summarize_cell(report)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a narma report.json of this version (missing or bad {exc})") from None


def _config_dict(cfg: SweepConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["options"] = {"encoder_mode": cfg.options.encoder.mode, "parallel": cfg.options.parallel,
                    **{k: v for k, v in asdict(cfg.options).items() if k not in ("encoder", "esn")}}
    return d


def findings(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The map in words: which (model, encoding, step) cells add information, per model."""
    ran = [c for c in cells if c.get("applicable") and c.get("run")]
    adds = [c for c in ran if c.get("adds_over_lags10")]
    # for knob encodings the host's own slew-limited commands must be beaten too
    credited = [c for c in adds if c["encoding"] not in KNOB_ENCODINGS or c.get("adds_over_commanded20")]
    per_model: dict[str, list[str]] = {}
    for c in credited:
        per_model.setdefault(c["model"], []).append(f"{c['encoding']}@{c['step_s']:g}s")
    return {"cells_run": len(ran), "cells_not_applicable": sum(1 for c in cells if not c.get("applicable")),
            "cells_not_run": sum(1 for c in cells if c.get("applicable") and not c.get("run")),
            "adds_over_lags10": [cell_name(c["model"], c["encoding"], c["step_s"]) for c in adds],
            "credited_to_device": per_model}
