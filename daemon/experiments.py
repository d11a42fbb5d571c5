"""Experiments started over MQTT run as child processes of the daemon (`asicrc narma ...`).

A child process keeps a long CPU-bound run off the event loop, can really be stopped (a thread cannot), and
leaves the same recording directory and report.json as the CLI, so every result can be recomputed offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asicrc.reservoir.backends import BACKENDS
from asicrc.reservoir.encoding import MODES

log = logging.getLogger("asicrc.experiments")


class ExperimentError(ValueError):
    """Bad experiment name or parameters; the message goes back to the requester."""


# name -> (CLI subcommand, {parameter: (type, CLI flag)})
EXPERIMENTS: dict[str, tuple[str, dict[str, tuple[type, str]]]] = {
    "narma": ("narma", {"backend": (str, "--backend"), "steps": (int, "--steps"), "seeds": (int, "--seeds"),
                        "mode": (str, "--mode"), "seed_base": (int, "--seed-base"), "speed": (float, "--speed")}),
}
# Parameters with a fixed set of values, checked before the child starts so a typo is refused in the reply
# instead of a `started: true` and a child that dies a second later.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("narma", "backend"): tuple(BACKENDS),
    ("narma", "mode"): tuple(m for m in MODES if m != "constant"),
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


def build_argv(name: str, params: Mapping[str, Any], out: Path) -> list[str]:
    if name not in EXPERIMENTS:
        raise ExperimentError(f"unknown experiment {name!r}; available: {', '.join(EXPERIMENTS)}")
    command, allowed = EXPERIMENTS[name]
    argv = [sys.executable, "-m", "asicrc.daemon.cli", command, "--out", str(out), "--no-progress"]
    for key, value in params.items():
        if key not in allowed:
            raise ExperimentError(f"{name}: unknown parameter {key!r}; allowed: {', '.join(allowed)}")
        typ, flag = allowed[key]
        if isinstance(value, bool) or not isinstance(value, (typ, int) if typ is float else typ):
            raise ExperimentError(f"{name}: parameter {key!r} must be {typ.__name__}, got {value!r}")
        choices = CHOICES.get((name, key))
        if choices is not None and value not in choices:
            raise ExperimentError(f"{name}: unknown {key} {value!r}; choose from {', '.join(choices)}")
        argv += [flag, str(value)]
    return argv


def summarize_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The headline numbers of a NARMA report.json (the full report stays on disk)."""
    device = report.get("models", {}).get("device", {}).get("nrmse", {})
    return {"nrmse": device.get("mean"), "nrmse_ci95": device.get("ci95"), "seeds": device.get("n"),
            "verdict": report.get("verdict"), "task": "narma10"}


class Experiments:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "experiments"
        self.runs: dict[str, Run] = {}

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
        argv = build_argv(name, params, out)
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
