"""`asicrc sim` as a user runs it: a subprocess printing ports as JSON, reachable on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from asicrc.daemon.cli import main
from asicrc.drivers.clock import Clock
from asicrc.drivers.stratum.server import ServerConfig, StratumServer

CLI = [sys.executable, "-m", "asicrc.daemon.cli", "sim"]


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        pytest.fail(f"asicrc sim printed nothing; stderr: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


async def test_cli_runs_lv06_devices_and_prints_their_ports() -> None:
    server = StratumServer(ServerConfig(difficulty=2**-16, min_difficulty=1e-12, job_interval_s=0),
                           clock=Clock(5.0))
    await server.start()
    try:
        proc, report = start("--model", "lv06", "--count", "2", "--speed", "5", "--seed", "3", "--duration", "2",
                             "--stratum", f"127.0.0.1:{server.port}")
        devices = report["devices"]
        assert isinstance(devices, list) and len(devices) == 2
        serials = {d["serial"] for d in devices}
        assert len(serials) == 2
        port = devices[0]["ports"]["http"]
        info = await asyncio.to_thread(
            lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/system/info", timeout=5).read()))
        assert info["ASICModel"] == "BM1366"
        await asyncio.sleep(0.8)
        assert len(server.active_connections()) == 2
        assert await asyncio.to_thread(proc.wait, 15) == 0
    finally:
        await server.stop()


def test_cli_serial_model_prints_a_pty_path() -> None:
    proc, report = start("--model", "bm1366", "--duration", "0.5")
    devices = report["devices"]
    assert isinstance(devices, list) and devices[0]["port_path"].startswith("/dev/pts/")
    assert devices[0]["difficulty_scale"] == 2.0**-24
    assert proc.wait(10) == 0
    assert proc.stderr is not None
    note = proc.stderr.read()
    assert "ticket difficulty x 5.96e-08" in note and "<= 1.5e-05" in note  # where a firmware author meets it


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "s9", "--stratum", "nohostport"], "HOST:PORT"),
    (["--model", "s9", "--count", "0"], "--count"),
    (["--model", "s9", "--speed", "-1"], "--speed"),
])
def test_cli_bad_input_gives_one_clear_line(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_unknown_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", "--model", "s19"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_cli_warns_once_per_device_when_the_pool_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import free_port

    port = free_port()  # nothing listens there
    assert main(["sim", "--model", "lv06", "--count", "2", "--stratum", f"127.0.0.1:{port}", "--duration", "1.5"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert all(f"cannot reach pool 127.0.0.1:{port}" in line and "retrying" in line for line in err), err
