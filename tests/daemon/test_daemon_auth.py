"""Username/password to a broker that refuses anonymous clients (real mosquitto with a password file)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, find_tool
from daemon_harness import DaemonProc, collect

from asicrc.daemon.client import request
from asicrc.daemon.config import MqttConfig


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    passwd = tmp_path / "passwd"
    subprocess.run([find_tool("mosquitto_passwd", ("/usr/bin",)), "-b", "-c", str(passwd), "asicrc", "s3cret"],
                   check=True, capture_output=True, timeout=30)
    broker = Broker(find_tool("mosquitto"), tmp_path)
    # As root mosquitto drops to its own user, which cannot read a file in pytest's 0700 temp dir: stay root.
    stay_root = "user root\n" if os.geteuid() == 0 else ""
    broker.conf.write_text(f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
                           f"persistence false\nlog_dest file {tmp_path / 'mosquitto.log'}\n{stay_root}")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_credentials_from_password_file(auth_broker: Broker, tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.secret"
    secret.write_text("s3cret\n")
    d = DaemonProc(tmp_path, auth_broker, devices="",
                   extra=f'username = "asicrc"\npassword_file = "{secret}"')
    try:
        d.notify.wait_for("READY=1", 30)
        cfg = MqttConfig(host="127.0.0.1", port=auth_broker.port, username="asicrc", password="s3cret")
        reply = await request(cfg, d.node, "ping", {}, 15)
        assert reply["status"] == "ok"
        anonymous = aiomqtt.Client("127.0.0.1", auth_broker.port, identifier="anon-test")
        with pytest.raises(aiomqtt.MqttError):
            async with anonymous:
                pass
        async with aiomqtt.Client("127.0.0.1", auth_broker.port, identifier="auth-test", username="asicrc",
                                  password="s3cret") as c:
            await c.subscribe(f"asicrc/{d.node}/status")
            seen = await collect(c, lambda s: bool(s), 10)
        assert seen[f"asicrc/{d.node}/status"] == "online"
    finally:
        assert d.stop() == 0


async def test_wrong_password_is_one_clear_log_line(auth_broker: Broker, tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, auth_broker, devices="", extra='username = "asicrc"\npassword = "wrong"')
    try:
        d.notify.wait_for("READY=1", 30)  # the daemon runs without MQTT rather than failing
    finally:
        assert d.stop() == 0
    lines = [ln for ln in d.log().splitlines() if "asicrc.mqtt" in ln and "not reachable" in ln]
    assert len(lines) == 1, d.log()
    assert "Not authorized" in lines[0] or "not authorised" in lines[0].lower() or "authoriz" in lines[0].lower()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """A TLS-only listener with a self-signed certificate for IP 127.0.0.1 (the client verifies it)."""
    openssl = find_tool("openssl", ("/usr/bin",))
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    broker = Broker(find_tool("mosquitto"), tmp_path)
    stay_root = "user root\n" if os.geteuid() == 0 else ""
    broker.conf.write_text(f"listener {broker.port} 127.0.0.1\nallow_anonymous true\ncertfile {cert}\nkeyfile {key}\n"
                           f"persistence false\nlog_dest file {tmp_path / 'mosquitto.log'}\n{stay_root}")
    broker.start()
    try:
        yield broker, cert
    finally:
        broker.stop()


async def test_tls_with_ca_file(tls_broker: tuple[Broker, Path], tmp_path: Path) -> None:
    broker, cert = tls_broker
    d = DaemonProc(tmp_path, broker, devices="", extra=f'tls = true\nca_file = "{cert}"')
    try:
        d.notify.wait_for("READY=1", 30)
        cfg = MqttConfig(host="127.0.0.1", port=broker.port, tls=True, ca_file=str(cert))
        reply = await request(cfg, d.node, "ping", {}, 15)
        assert reply["status"] == "ok" and reply["data"]["node"] == d.node
    finally:
        assert d.stop() == 0
    assert "connected to 127.0.0.1" in d.log()
