"""Logging for the daemon: one line per record on stderr (journald adds time and unit under systemd)."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(level: str) -> None:
    under_journal = bool(os.environ.get("JOURNAL_STREAM"))
    fmt = "%(levelname)s %(name)s: %(message)s" if under_journal else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.getLevelNamesMapping().get(level.upper(), logging.INFO), format=fmt, stream=sys.stderr,
                        force=True)
    # paho/aiomqtt log every reconnect attempt at INFO/WARNING; the bridge logs the useful line itself.
    logging.getLogger("aiomqtt").setLevel(logging.ERROR)
