"""State under the state directory (identities, trained readouts, recordings), written atomically.

A write goes to a temporary file in the same directory, is fsynced, then renamed over the target, and the
directory is fsynced, so a crash or power cut leaves either the old or the new file, never a torn one
(`asicrc.drivers.atomicfile`, shared with the reservoir and TPF reports).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from asicrc.drivers import atomicfile


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
