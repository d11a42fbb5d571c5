"""The mosquitto configuration in docs/install.md ("Securing MQTT"), run as written on 127.0.0.1 with TLS: the
daemon works through it, each role can do what the doc says, and nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from conftest import Broker, find_tool
from daemon_harness import DaemonProc

from asicrc.daemon.client import ClientError, request
from asicrc.daemon.config import MqttConfig

ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"asicrc": "d-secret", "operator": "o-secret", "homeassistant": "h-secret"}


def doc_block(marker: str) -> str:
    text = (ROOT / "docs" / "install.md").read_text()
    m = re.search(rf"<!-- test: {re.escape(marker)} -->\n```\w*\n(.*?)```", text, re.S)
    assert m, f"docs/install.md has no block marked {marker}"
    return m.group(1)


@pytest.fixture
def acl_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run([find_tool("openssl", ("/usr/bin",)), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(certs / "server.key"), "-out", str(certs / "server.crt"), "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    passwd = tmp_path / "passwd"
    tool = find_tool("mosquitto_passwd", ("/usr/bin",))
    for i, (user, pw) in enumerate(PASSWORDS.items()):
        subprocess.run([tool, "-b", *(["-c"] if i == 0 else []), str(passwd), user, pw], check=True,
                       capture_output=True, timeout=30)
    (tmp_path / "acl").write_text(doc_block("mosquitto.acl"))
    broker = Broker(find_tool("mosquitto"), tmp_path)
    conf = doc_block("mosquitto.conf").replace("/etc/mosquitto/", f"{tmp_path}/")
    conf = conf.replace("listener 8883", f"listener {broker.port} 127.0.0.1")
    stay_root = "user root\n" if os.geteuid() == 0 else ""  # as root mosquitto would drop to a user without access
    broker.conf.write_text(conf + f"persistence false\nlog_dest file {tmp_path / 'mosquitto.log'}\n{stay_root}")
    broker.start()
    try:
        yield broker, certs / "server.crt"
    finally:
        broker.stop()


def cfg(broker: Broker, ca: Path, user: str | None) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=broker.port, tls=True, ca_file=str(ca), username=user or "",
                      password=PASSWORDS.get(user or "", ""))


def raw_client(broker: Broker, ca: Path, user: str) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, identifier=f"t-{uuid.uuid4().hex[:8]}", username=user,
                          password=PASSWORDS[user], tls_context=ssl.create_default_context(cafile=str(ca)))


async def test_documented_acl_roles(acl_broker: tuple[Broker, Path], tmp_path: Path) -> None:
    broker, ca = acl_broker
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORDS["asicrc"] + "\n")
    d = DaemonProc(tmp_path, broker, devices="", extra=f'tls = true\nca_file = "{ca}"\nusername = "asicrc"\n'
                                                       f'password_file = "{secret}"')
    try:
        d.notify.wait_for("READY=1", 30)
        ok = None
        for _ in range(20):  # the daemon connects shortly after READY
            with contextlib.suppress(ClientError):
                ok = await request(cfg(broker, ca, "operator"), d.node, "ping", {}, 3)
                break
        assert ok and ok["status"] == "ok", d.log()[-2000:]  # operator: requests and its own inbox
        # Home Assistant reads the daemon's status but its requests never reach the daemon
        async with raw_client(broker, ca, "homeassistant") as ha:
            await ha.subscribe(f"asicrc/{d.node}/status")
            async with asyncio.timeout(10):
                msg = await anext(aiter(ha.messages))
            assert msg.payload == b"online"
        with pytest.raises(ClientError, match="no answer"):
            await request(cfg(broker, ca, "homeassistant"), d.node, "ping", {}, 3)
        # an operator cannot read another client's inbox, nor publish as the daemon
        async with raw_client(broker, ca, "operator") as snoop, raw_client(broker, ca, "operator") as other:
            await snoop.subscribe(f"asicrc/client/{other.identifier}/#")
            await other.subscribe(f"asicrc/client/{other.identifier}/#")
            await other.publish(f"asicrc/{d.node}/status", b"offline", retain=True)  # silently dropped
            got = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    got = await anext(aiter(snoop.messages))
            assert got is None
        async with raw_client(broker, ca, "homeassistant") as ha:
            await ha.subscribe(f"asicrc/{d.node}/status")
            async with asyncio.timeout(10):
                assert (await anext(aiter(ha.messages))).payload == b"online"  # the forged offline never landed
        # anonymous clients and wrong passwords are refused
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="anon",
                                      tls_context=ssl.create_default_context(cafile=str(ca))):
                pass
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="bad", username="operator",
                                      password="wrong", tls_context=ssl.create_default_context(cafile=str(ca))):
                pass
    finally:
        assert d.stop() == 0
