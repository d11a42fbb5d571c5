"""Where a batch command (`asicrc narma`, `asicrc tpf`) writes when no --out is given: a new directory
``runs/<command>-<UTC time>`` under the current directory, so a copy-pasted example runs as written."""

from __future__ import annotations

import time
from pathlib import Path


def default_out_dir(command: str, root: Path = Path("runs")) -> Path:
    """A directory path that does not exist yet (a suffix -2, -3, ... if two runs start in the same second)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = root / f"{command}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path
