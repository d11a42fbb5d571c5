"""A busy listen port is one clear line naming the address, not asyncio's "[Errno 98] error while attempting..."."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys

import pytest

from asicrc.drivers.stratum.server import ServerConfig, StratumServer


def _busy_loopback_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_stratum_serve_on_a_busy_port_says_so_in_one_line() -> None:
    with _busy_loopback_socket() as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "asicrc.daemon.cli", "stratum", "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"asicrc stratum: error: Stratum pool: cannot listen on 127.0.0.1:{port}: "
                                   "address already in use (another program is listening there)")


async def test_server_start_keeps_the_errno() -> None:
    with _busy_loopback_socket() as busy:
        server = StratumServer(ServerConfig(host="127.0.0.1", port=busy.getsockname()[1]))
        with pytest.raises(OSError) as info:
            await server.start()
    assert info.value.errno == errno.EADDRINUSE
    assert "[Errno" not in str(info.value)
