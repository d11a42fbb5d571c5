"""Daemon end-to-end harness: the real `asicrc run` subprocess, a real mosquitto, a fake systemd notify socket."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from conftest import Broker, find_tool, free_port

ASICRC = str(Path(sys.executable).with_name("asicrc"))

FLEET = """
[[devices]]
id = "s9"
model = "s9"
seed = 1
difficulty = 4096

[[devices]]
id = "lv06"
model = "lv06"
seed = 2
difficulty = 128

[[devices]]
id = "lbbox"
model = "lbbox"
seed = 3
"""


def daemon_config(node: str, broker_port: int, prom_port: int, state_dir: Path, extra: str = "",
                  devices: str = FLEET) -> str:
    return f"""
[node]
id = "{node}"
state_dir = "{state_dir}"
poll_interval_s = 0.5

[mqtt]
host = "127.0.0.1"
port = {broker_port}
telemetry_interval_s = 0.5
{extra}

[prometheus]
host = "127.0.0.1"
port = {prom_port}
{devices}
"""


class NotifySocket:
    """Plays systemd: a datagram socket the daemon sends READY/WATCHDOG/STOPPING to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except (TimeoutError, BlockingIOError):
                return [m for _, m in self.messages]

    def seen(self) -> list[str]:
        return [m for _, m in self.messages]

    def wait_for(self, state: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(state in m.split("\n") for m in self.drain()):
                return
        raise AssertionError(f"no {state} within {timeout} s; got {self.drain()}")

    def close(self) -> None:
        self.sock.close()


class DaemonProc:
    def __init__(self, tmp: Path, broker: Broker, node: str | None = None, extra: str = "",
                 devices: str = FLEET, watchdog_usec: int = 1_000_000, prom_port: int | None = None) -> None:
        self.node = node or f"n{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.broker = broker
        # 0 = the daemon picks a free port itself (many daemons at once: a port picked here may be taken meanwhile)
        self.prom_port = free_port() if prom_port is None else prom_port
        self.config_path = tmp / f"{self.node}.toml"
        self.state_dir = tmp / f"state-{self.node}"
        self.write_config(extra, devices)
        self.notify = NotifySocket(tmp / f"notify-{self.node}.sock")
        self.log_path = tmp / f"{self.node}.log"
        self._log = self.log_path.open("wb")
        env = dict(os.environ, NOTIFY_SOCKET=str(self.notify.path), WATCHDOG_USEC=str(watchdog_usec))
        env.pop("WATCHDOG_PID", None)
        self.proc = subprocess.Popen([ASICRC, "run", "--config", str(self.config_path)], stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)

    def write_config(self, extra: str = "", devices: str = FLEET) -> None:
        self.config_path.write_text(daemon_config(self.node, self.broker.port, self.prom_port, self.state_dir,
                                                  extra, devices))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGABRT)  # faulthandler puts every thread's stack in the log
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        self._log.close()
        self.notify.drain()  # keep what systemd would have seen (STOPPING=1) for the test to inspect
        self.notify.close()
        return int(self.proc.returncode)


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = Broker(find_tool("mosquitto"), tmp_path_factory.mktemp("broker"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def running_daemon(module_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    d = DaemonProc(tmp_path_factory.mktemp("daemon"), module_broker,
                   extra='allow_commands = ["set_frequency", "set_voltage", "set_fan", "set_difficulty"]')
    try:
        d.notify.wait_for("READY=1", 30)
        yield d
    finally:
        d.stop()


def mqtt_client(broker: Broker, protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V5) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, identifier=f"test-{uuid.uuid4().hex[:8]}", protocol=protocol)


async def collect(client: aiomqtt.Client, until: Any, wait_s: float) -> dict[str, Any]:
    """Messages by topic (JSON-decoded when possible) until `until(seen)` is true."""
    seen: dict[str, Any] = {}
    async with asyncio.timeout(wait_s):
        async for msg in client.messages:
            raw = bytes(msg.payload) if isinstance(msg.payload, (bytes, bytearray)) else b""
            try:
                seen[str(msg.topic)] = json.loads(raw) if raw else None
            except ValueError:
                seen[str(msg.topic)] = raw.decode(errors="replace")
            if until(seen):
                return seen
    return seen
