"""State under the state directory (identities, trained readouts, recordings), written atomically.

A write goes to a temporary file in the same directory, is fsynced, then renamed over the target, and the
directory is fsynced, so a crash or power cut leaves either the old or the new file, never a torn one
(`asicrc.drivers.atomicfile`, shared with the reservoir and TPF reports).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from asicrc.drivers import atomicfile

log = logging.getLogger("asicrc.state")
T = TypeVar("T")


def resolve_state_dir(configured: str) -> Path:
    """Configured dir, else systemd's $STATE_DIRECTORY (first entry), else ~/.local/state/asicrc."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("STATE_DIRECTORY", "")
    if env:
        return Path(env.split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "asicrc"


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o640) -> None:
    atomicfile.atomic_write_bytes(path, data, mode=mode)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomicfile.atomic_write_json(path, obj, mode=0o640, indent=2, sort_keys=True, default=str)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable state file ({exc}); move it aside to start fresh") from None


class SavedIdentity(msgspec.Struct, omit_defaults=True):
    """What the daemon remembers about a device it has seen online (identities.json, one entry per device)."""

    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    chips: int | None = None


def load_state(path: Path, schema: Any, default: T, what: str) -> T:
    """A state file decoded as `schema`, or `default` when it is absent. A corrupt file (not UTF-8, not JSON,
    truncated, wrong types) must not stop the daemon: it is moved aside as ``<name>.corrupt-<time>`` (kept for
    inspection, never overwritten), one warning line says so, and the daemon starts with `default`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return default
    except OSError as exc:
        log.warning("state: cannot read %s (%s); starting with no %s", path, exc.strerror or exc, what)
        return default
    try:
        value: T = msgspec.json.decode(data, type=schema)
        return value
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
        where = f"moved to {aside.name}"
    except OSError as exc:
        where = f"could not move it aside ({exc.strerror or exc})"
    log.warning("state: %s is corrupt (%s); %s, starting with no %s", path, problem, where, what)
    return default
