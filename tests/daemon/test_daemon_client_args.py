"""`asicrc status/query` argument checks: bad values give one error line before any network use."""

from __future__ import annotations

import socket
import time

import pytest

from asicrc.daemon.cli import main


@pytest.mark.parametrize("command", [["status"], ["query", "ping"]])
@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_timeout_must_be_positive(command: list[str], timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    # port 1 is closed: without the check this would fail later with a broker error instead
    assert main([*command, "--port", "1", "--timeout", timeout]) == 1
    err = capsys.readouterr().err
    assert "--timeout must be a number of seconds > 0" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("command", [["status"], ["status", "--all"], ["query", "ping"]])
def test_silent_listener_is_bounded_by_timeout(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # a port that accepts TCP but never speaks MQTT: the connect handshake must respect --timeout (was 10 s)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        t0 = time.monotonic()
        assert main([*command, "--port", str(port), "--timeout", "1"]) == 1
        elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    assert f"cannot reach the MQTT broker at 127.0.0.1:{port}" in err and err.count("\n") == 1, err
    assert elapsed < 5, elapsed
