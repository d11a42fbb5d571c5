"""Experiments started over MQTT run as child processes of the daemon (`asicrc narma ...`).

A child process keeps a long CPU-bound run off the event loop, can really be stopped (a thread cannot), and
leaves the same recording directory and report.json as the CLI, so every result can be recomputed offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("asicrc.experiments")


class ExperimentError(ValueError):
    """Bad experiment name or parameters; the message goes back to the requester."""


# name -> (CLI subcommand, {parameter: (type, CLI flag)})
EXPERIMENTS: dict[str, tuple[str, dict[str, tuple[type, str]]]] = {
    "narma": ("narma", {"backend": (str, "--backend"), "steps": (int, "--steps"), "seeds": (int, "--seeds"),
                        "mode": (str, "--mode"), "seed_base": (int, "--seed-base"), "speed": (float, "--speed")}),
}


@dataclass
class Run:
    name: str
    out: Path
    argv: list[str]
    proc: asyncio.subprocess.Process | None = None
    started_unix: float = field(default_factory=time.time)
    result: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


EXPERIMENT_NICE = 10  # experiment children run below the daemon's own work
MAX_INT_PARAM = 2**63  # seeds/steps/seed_base beyond this are nonsense (and str() of a huge int is slow)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one requester may make the daemon compute (config [experiments])."""

    max_steps_x_seeds: int = 200_000
    max_speed: float = 100.0


def build_argv(name: str, params: Mapping[str, Any], out: Path, limits: Limits = Limits()) -> list[str]:
    if not isinstance(name, str) or name not in EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {str(name)[:40]!r}; available: {', '.join(EXPERIMENTS)}")
    command, allowed = EXPERIMENTS[name]
    flags: list[str] = []
    for key, value in params.items():
        if key not in allowed:
            raise ExperimentError(f"{name}: unknown parameter {key[:40]!r}; allowed: {', '.join(allowed)}")
        typ, flag = allowed[key]
        if isinstance(value, bool) or not isinstance(value, (typ, int) if typ is float else typ):
            raise ExperimentError(f"{name}: parameter {key!r} must be {typ.__name__}, got {str(value)[:40]!r}")
        if isinstance(value, int) and abs(value) >= MAX_INT_PARAM:
            raise ExperimentError(f"{name}: parameter {key!r} is out of range ({str(value)[:20]}...)")
        if isinstance(value, str) and len(value) > 64:
            raise ExperimentError(f"{name}: parameter {key!r} is longer than 64 characters")
        flags += [flag, str(value)]
    check_narma_size(params, limits)
    # one worker process: a run on virtual time computes flat out, and the daemon's polls, pool and MQTT must
    # keep their core (Experiments.start also lowers the child's priority)
    return [sys.executable, "-m", "asicrc.daemon.cli", command, "--out", str(out), "--no-progress",
            "--parallel", "1", *flags]


# `asicrc narma`'s defaults and lower bound for the parameters MQTT may set. Mirrored here because importing the
# CLI module pulls in scipy/matplotlib (5-12 s), which must never happen on the daemon's event loop; a test
# (tests/daemon/test_daemon_request_guard.py) checks these against the CLI's own parser. The child process
# runs the CLI's full checks again.
NARMA_DEFAULTS = {"steps": 1000, "seeds": 7, "speed": 15.0, "mode": "monologue", "backend": "sim:lv06"}
NARMA_DEFAULT_WASHOUT = 200
NARMA_MIN_AFTER_WASHOUT = 101


def check_narma_size(params: Mapping[str, Any], limits: Limits) -> None:
    """Refuse a bad or too large NARMA run now, with a clear error, instead of after `started: true`."""
    from asicrc.reservoir.backends import BACKENDS  # light modules (numpy only)
    from asicrc.reservoir.encoding import MODES

    p = {**NARMA_DEFAULTS, **params}
    if p["backend"] not in BACKENDS:
        raise ExperimentError(f"narma: unknown backend {str(p['backend'])[:40]!r}; available: {', '.join(BACKENDS)}")
    modes = [m for m in MODES if m != "constant"]  # the constant control runs beside every mode anyway
    if p["mode"] not in modes:
        raise ExperimentError(f"narma: invalid choice for mode: {str(p['mode'])[:40]!r} (choose from "
                              f"{', '.join(modes)})")
    steps, seeds = int(p["steps"]), int(p["seeds"])
    if steps < 1 or seeds < 1:
        raise ExperimentError("narma: seeds and steps must be >= 1")
    need = NARMA_DEFAULT_WASHOUT + NARMA_MIN_AFTER_WASHOUT
    if steps < need:
        raise ExperimentError(f"narma: steps {steps} is too short for the washout of {NARMA_DEFAULT_WASHOUT}: need "
                              f"steps >= {need}")
    work = steps * seeds
    if work > limits.max_steps_x_seeds:
        raise ExperimentError(f"narma: steps × seeds = {work} ({steps} × {seeds}) exceeds this node's "
                              f"limit of {limits.max_steps_x_seeds} (see [experiments] max_steps_x_seeds)")
    speed = float(p["speed"])
    if not 0 < speed <= limits.max_speed:
        raise ExperimentError(f"narma: speed must be in (0, {limits.max_speed:g}], got {speed:g} "
                              "(see [experiments] max_speed)")


def summarize_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of a NARMA report.json (the full report stays on disk)."""
    device = report.get("models", {}).get("device", {}).get("nrmse", {})
    decision = report.get("decision", {})
    claims = ("beats_best_input_only", "adds_over_lags10", "adds_over_commanded20", "adds_information")
    return {"nrmse": device.get("mean"), "nrmse_ci95": device.get("ci95"), "seeds": device.get("n"),
            "verdict": report.get("verdict"), "task": "narma10",
            "decision": {k: decision.get(k) for k in claims}}  # the verdict as data, for MQTT clients


class Experiments:
    def __init__(self, state_dir: Path, limits: Limits = Limits()) -> None:
        self.root = state_dir / "experiments"
        self.limits = limits
        self.runs: dict[str, Run] = {}  # one entry per experiment name (EXPERIMENTS), never per request

    def status(self) -> dict[str, Any]:
        return {name: {"running": r.running, "out": str(r.out), "started_unix": r.started_unix,
                       "result": r.result} for name, r in self.runs.items()}

    def last_result(self, name: str) -> dict[str, Any] | None:
        run = self.runs.get(name)
        return run.result if run else None

    async def start(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        current = self.runs.get(name)
        if current is not None and current.running:
            raise ExperimentError(f"experiment {name!r} is already running (pid {current.proc.pid if current.proc else '?'})")
        out = self.root / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}"
        argv = build_argv(name, params, out, self.limits)
        out.mkdir(parents=True, exist_ok=True)
        run = Run(name, out, argv)
        log_file = (out / "stderr.log").open("wb")
        try:
            run.proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                            stderr=log_file)
        finally:
            log_file.close()
        with contextlib.suppress(OSError):  # best effort: the run may already have exited
            os.setpriority(os.PRIO_PROCESS, run.proc.pid, EXPERIMENT_NICE)  # its forked workers inherit it
        self.runs[name] = run
        asyncio.get_running_loop().create_task(self._watch(run), name=f"experiment:{name}")
        log.info("experiment %s started (pid %d): %s", name, run.proc.pid, out)
        return {"experiment": name, "started": True, "out": str(out), "pid": run.proc.pid}

    async def _watch(self, run: Run) -> None:
        assert run.proc is not None
        rc = await run.proc.wait()
        report_path = run.out / "report.json"
        if rc == 0 and report_path.is_file():
            try:
                run.result = {"status": "done", **summarize_report(json.loads(report_path.read_text()))}
            except (OSError, ValueError, AttributeError, TypeError) as exc:  # a report of the wrong shape too
                run.result = {"status": "error", "error": f"unreadable report: {type(exc).__name__}: {exc}"}
        else:
            tail = (run.out / "stderr.log").read_text(errors="replace").strip().splitlines()[-1:] \
                if (run.out / "stderr.log").exists() else []
            # killed by a signal (rc < 0), or the CLI's own exit after SIGTERM (143) / SIGINT (130)
            run.result = {"status": "stopped" if rc < 0 or rc in (130, 143) else "error", "returncode": rc,
                          "error": tail[0] if tail else ""}
        run.result["out"] = str(run.out)
        log.info("experiment %s finished: %s", run.name, run.result.get("status"))

    async def stop(self, name: str) -> dict[str, Any]:
        run = self.runs.get(name)
        if run is None or not run.running or run.proc is None:
            raise ExperimentError(f"experiment {name!r} is not running")
        run.proc.terminate()
        try:
            await asyncio.wait_for(run.proc.wait(), 10)
        except TimeoutError:
            run.proc.kill()
        return {"experiment": name, "stopped": True}

    async def stop_all(self) -> None:
        for name, run in list(self.runs.items()):
            if run.running:
                with contextlib.suppress(ExperimentError, ProcessLookupError):
                    await self.stop(name)
