"""sd_notify without libsystemd: one datagram per state change to $NOTIFY_SOCKET.

Supports filesystem sockets (``/run/...``) and abstract ones (``@name``). Outside systemd (no NOTIFY_SOCKET)
every call is a cheap no-op returning False, so callers never branch on "are we under systemd".
"""

from __future__ import annotations

import os
import socket


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        if addr.startswith("@"):
            self._addr: str | None = "\0" + addr[1:]  # abstract namespace
        elif addr.startswith("/"):
            self._addr = addr
        else:
            self._addr = None  # unset, or a transport we do not speak (vsock:...)
        self.watchdog_interval_s = self._watchdog_interval()

    @staticmethod
    def _watchdog_interval() -> float | None:
        """Half of WATCHDOG_USEC when the watchdog is meant for this process (systemd's recommendation)."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        if not usec.isdigit() or int(usec) == 0:
            return None
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None
        return int(usec) / 2e6

    @property
    def enabled(self) -> bool:
        return self._addr is not None

    def notify(self, *states: str) -> bool:
        if self._addr is None or not states:
            return False
        payload = "\n".join(states).encode()
        try:
            # Non-blocking: a receiver that stopped reading (full datagram queue) must never stall the loop.
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
                sock.connect(self._addr)
                sock.send(payload)
        except OSError:
            return False  # systemd gone, socket vanished or queue full: nothing useful to do about it
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd >= 253 match the reload; older versions ignore it.
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={int(_monotonic_us())}")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))


def _monotonic_us() -> float:
    import time

    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
