"""Atomic file writes: a reader (or a crash, Ctrl-C, power cut) sees the old file or the new one, never half of one.

A write goes to a temporary file in the target's directory (same filesystem, so the rename is atomic), is
flushed and fsynced, then `os.replace`d over the target, and the directory is fsynced so the rename itself is
durable. On any failure (including KeyboardInterrupt) the temporary file is removed and the target is untouched.

Neutral on purpose: the daemon (state files), the reservoir and TPF reports and the recorders all use it, and
none of them has to import another's code.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_MODE = 0o644


def _fsync_dir(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # some filesystems do not open directories; the rename has happened anyway
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _temp_name(path: Path) -> str:
    """A fresh hidden name beside `path` that keeps its suffix (numpy and matplotlib pick formats by suffix)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_path(path: Path | str, mode: int = DEFAULT_MODE, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that wants a file name (``np.savez``, ``savefig``);
    on normal exit it is fsynced and renamed over `path`, on an exception it is removed and `path` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(_temp_name(path))
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: Path | str, data: bytes, mode: int = DEFAULT_MODE, fsync: bool = True) -> None:
    with atomic_path(path, mode=mode, fsync=False) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
    if fsync:
        _fsync_dir(Path(path).parent)


def atomic_write_text(path: Path | str, text: str, mode: int = DEFAULT_MODE, fsync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode, fsync=fsync)


def atomic_write_json(path: Path | str, obj: Any, mode: int = DEFAULT_MODE, fsync: bool = True,
                      **dumps_kwargs: Any) -> None:
    """`json.dumps(obj, **dumps_kwargs)` plus a newline, written atomically. Serialisation happens before the
    file is touched, so an unserialisable object leaves the old file as it was."""
    atomic_write_text(path, json.dumps(obj, **dumps_kwargs) + "\n", mode=mode, fsync=fsync)
