"""asicrc.drivers.atomicfile: a failed or interrupted write leaves the old file whole and no temporary behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from asicrc.daemon.statefile import atomic_write_json as state_write_json
from asicrc.drivers import atomicfile


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_json_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "report.json"
    atomicfile.atomic_write_json(path, {"v": 1})
    atomicfile.atomic_write_json(path, {"v": 2}, indent=1)
    assert path.read_text() == '{\n "v": 2\n}\n'
    assert _leftovers(path.parent) == []


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_failure_mid_write_keeps_the_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 exc: BaseException) -> None:
    path = tmp_path / "report.json"
    atomicfile.atomic_write_text(path, "old\n")

    def fail(fd: int) -> None:  # the new bytes are in the temporary file; the process dies before the rename
        raise exc

    monkeypatch.setattr(atomicfile.os, "fsync", fail)
    with pytest.raises(type(exc)):
        atomicfile.atomic_write_text(path, "new\n" * 1000)
    assert path.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_unserialisable_json_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    atomicfile.atomic_write_json(path, [1])
    with pytest.raises(ValueError):
        atomicfile.atomic_write_json(path, [float("nan")], allow_nan=False)
    assert path.read_text() == "[1]\n"


def test_atomic_path_for_numpy_npz(tmp_path: Path) -> None:
    path = tmp_path / "run.npz"
    with atomicfile.atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npz"  # numpy keeps the name (no ".npz" appended)
        np.savez_compressed(tmp, u=np.arange(3))
    with pytest.raises(RuntimeError), atomicfile.atomic_path(path) as tmp:
        np.savez_compressed(tmp, u=np.arange(5))
        raise RuntimeError("interrupted after a partial write")
    with np.load(path) as z:
        assert z["u"].tolist() == [0, 1, 2]
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]


def test_daemon_state_files_use_the_shared_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    real = atomicfile.atomic_write_bytes
    monkeypatch.setattr(atomicfile, "atomic_write_bytes", lambda p, d, **kw: (seen.append(Path(p)), real(p, d, **kw)))
    path = tmp_path / "identities.json"
    state_write_json(path, {"b": 1, "a": 2})
    assert seen == [path]
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
