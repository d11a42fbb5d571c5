"""The unit's `SystemCallFilter=~@resources` (with `SystemCallErrorNumber=EPERM`) must not break the daemon or
its experiments. No systemd here to run the unit, so the same filter is applied with libseccomp: the syscall set
comes from `systemd-analyze syscall-filter @resources` itself, and a positive control proves it bites."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import find_tool, free_port

HERE = Path(__file__).resolve().parent
ASICRC = str(Path(sys.executable).with_name("asicrc"))


def resources_set() -> list[str]:
    out = subprocess.run([find_tool("systemd-analyze"), "syscall-filter", "@resources"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    names = [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.strip().startswith(("@", "#"))]
    assert "sched_setaffinity" in names and "setpriority" in names, out
    return names


def filtered(argv: list[str]) -> list[str]:
    try:
        import ctypes

        ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp2 not installed")
    return [sys.executable, str(HERE / "seccomp_exec.py"), ",".join(resources_set()), "--", *argv]


def test_the_filter_bites() -> None:
    probe = "import os\ntry:\n    os.sched_setaffinity(0, os.sched_getaffinity(0))\n    print('allowed')\n" \
            "except PermissionError:\n    print('EPERM')\n"
    assert subprocess.run(filtered([sys.executable, "-c", probe]), capture_output=True, text=True,
                          timeout=60).stdout.strip() == "EPERM"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60).stdout.strip() == "allowed"  # negative control: unfiltered


def test_daemon_runs_under_the_filter(tmp_path: Path) -> None:
    prom = free_port()
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'[node]\nid = "filtered"\nstate_dir = "{tmp_path / "state"}"\npoll_interval_s = 0.5\n'
                   f'[mqtt]\nenabled = false\n[prometheus]\nport = {prom}\n'
                   '[[devices]]\nid = "lv06"\nmodel = "lv06"\nseed = 2\n')
    log = (tmp_path / "d.log").open("wb")
    proc = subprocess.Popen(filtered([ASICRC, "run", "--config", str(cfg)]), stdout=log, stderr=subprocess.STDOUT)
    try:
        up, deadline = False, time.monotonic() + 60
        while not up and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as resp:
                    up = 'asicrc_device_up{device="lv06",node="filtered"} 1.0' in resp.read().decode()
            except OSError:
                pass
        assert up, (tmp_path / "d.log").read_text()[-3000:]
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
        log.close()
    text = (tmp_path / "d.log").read_text()
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]


def test_narma_experiment_runs_under_the_filter(tmp_path: Path) -> None:
    out = tmp_path / "narma"
    proc = subprocess.run(filtered([ASICRC, "narma", "--backend", "esn", "--steps", "300", "--washout", "50",
                                    "--seeds", "2", "--out", str(out), "--no-progress"]),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "report.json").is_file()
