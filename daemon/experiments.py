"""Experiments started over MQTT run as child processes of the daemon (`asicrc narma ...`).

A child process keeps a long CPU-bound run off the event loop, can really be stopped (a thread cannot), and
leaves the same recording directory and report.json as the CLI, so every result can be recomputed offline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

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
    check_narma_size(flags, limits)
    return [sys.executable, "-m", "asicrc.daemon.cli", command, "--out", str(out), "--no-progress", *flags]


class _Refusing(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ExperimentError(f"narma: {message}")


def check_narma_size(flags: list[str], limits: Limits) -> None:
    """Parse the flags with the real `asicrc narma` parser (its defaults and checks), so a bad value is refused now
    with a clear error instead of after `started: true`, and the run's size is capped before it costs anything."""
    from asicrc.reservoir.backends import BACKENDS
    from asicrc.reservoir.cli_narma import add_arguments, usage_problem

    parser = _Refusing(prog="narma", add_help=False)
    add_arguments(parser)
    args = parser.parse_args([*flags, "--out", "-"])
    if args.backend not in BACKENDS:
        raise ExperimentError(f"narma: unknown backend {args.backend!r}; available: {', '.join(BACKENDS)}")
    problem = usage_problem(args)
    if problem:
        raise ExperimentError(f"narma: {problem.replace('--', '')}")
    work = args.steps * args.seeds
    if work > limits.max_steps_x_seeds:
        raise ExperimentError(f"narma: steps × seeds = {work} ({args.steps} × {args.seeds}) exceeds this node's "
                              f"limit of {limits.max_steps_x_seeds} (see [experiments] max_steps_x_seeds)")
    if not 0 < args.speed <= limits.max_speed:
        raise ExperimentError(f"narma: speed must be in (0, {limits.max_speed:g}], got {args.speed:g} "
                              "(see [experiments] max_speed)")


def summarize_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of a NARMA report.json (the full report stays on disk)."""
    device = report.get("models", {}).get("device", {}).get("nrmse", {})
    return {"nrmse": device.get("mean"), "nrmse_ci95": device.get("ci95"), "seeds": device.get("n"),
            "verdict": report.get("verdict"), "task": "narma10"}


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
            except (OSError, ValueError) as exc:
                run.result = {"status": "error", "error": f"unreadable report: {exc}"}
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
