"""Fixtures shared by every test area: free loopback ports, system tools, a real mosquitto broker."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_SYSTEM_TOOLS = os.environ.get("ASICRC_REQUIRE_SYSTEM_TOOLS") == "1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (loopback only, never another address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_tool(name: str, extra_dirs: tuple[str, ...] = ("/usr/sbin", "/sbin")) -> str:
    """Path of a system tool; skips the test when it is missing, fails in CI (ASICRC_REQUIRE_SYSTEM_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        for d in extra_dirs:
            cand = Path(d) / name
            if cand.exists():
                path = str(cand)
                break
    if path is None:
        msg = f"{name} not installed (apt-get install it; .ci/run does)"
        if REQUIRE_SYSTEM_TOOLS:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture
def unused_port() -> int:
    return free_port()


class Broker:
    """A real mosquitto process on 127.0.0.1:<port>; restartable on the same port."""

    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe = exe
        self.host = "127.0.0.1"
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {workdir / 'mosquitto.log'}\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError as exc:
                if self.proc.poll() is not None:
                    log = (self.workdir / "mosquitto.log").read_text()
                    raise RuntimeError(f"mosquitto exited: {log}") from exc
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(find_tool("mosquitto"), tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
