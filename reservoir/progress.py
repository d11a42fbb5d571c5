"""A plain progress bar on stderr (redrawn at most 10 times a second; a newline-per-update log when not a tty)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.done = 0
        self._t0 = time.monotonic()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        now = time.monotonic()
        if self.done == self.total or now - self._last >= (0.1 if self._tty else 5.0):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = self.done / self.total
        bar = "#" * int(frac * self.width)
        elapsed = now - self._t0
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        line = f"{self.label} [{bar:<{self.width}}] {self.done}/{self.total} {elapsed:5.0f}s eta {eta:4.0f}s"
        self.stream.write(("\r" + line) if self._tty else (line + "\n"))
        if self._tty and self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()
