"""In-process units: supervisor restarts with backoff without touching siblings; atomic state files; topics."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from asicrc.daemon.statefile import atomic_write_json, read_json, resolve_state_dir
from asicrc.daemon.supervisor import Supervisor
from asicrc.daemon.topics import Topics


async def test_failing_child_is_restarted_and_siblings_keep_running() -> None:
    attempts = 0
    ticks = 0
    restarts: list[tuple[int, str]] = []

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise ConnectionError(f"device away (attempt {attempts})")
        await asyncio.sleep(3600)

    async def steady() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async with asyncio.TaskGroup() as tg:
        sup = Supervisor(tg)
        child = sup.start("flaky", flaky, on_restart=lambda n, err: restarts.append((n, err)))
        sup.start("steady", steady)
        for _ in range(400):
            if child.running and attempts == 3:
                break
            await asyncio.sleep(0.01)
        assert attempts == 3 and child.restarts == 2
        assert restarts[0] == (1, "ConnectionError: device away (attempt 1)")
        before = ticks
        await asyncio.sleep(0.05)
        assert ticks > before  # the sibling never stopped
        with pytest.raises(ValueError, match="already running"):
            sup.start("steady", steady)
        await sup.stop_all()
        assert sup.children == {}


async def test_stop_gets_through_a_child_that_swallows_one_cancellation() -> None:
    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # a library that eats CancelledError during connect
        await asyncio.sleep(3600)

    async with asyncio.TaskGroup() as tg:
        sup = Supervisor(tg)
        child = sup.start("stubborn", stubborn)
        await asyncio.sleep(0.01)
        await asyncio.wait_for(sup.stop("stubborn", timeout_s=5), 6)
        assert child.task is not None and child.task.done()


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "identities.json"
    atomic_write_json(path, {"lv06": {"serial": "A"}})
    atomic_write_json(path, {"lv06": {"serial": "B"}})
    assert read_json(path) == {"lv06": {"serial": "B"}}
    assert [p.name for p in path.parent.iterdir()] == ["identities.json"]  # no temporary files left behind
    path.write_text("{torn")
    with pytest.raises(ValueError, match="unreadable state file"):
        read_json(path)
    assert read_json(tmp_path / "missing.json", {}) == {}
    assert json.loads(json.dumps(read_json(tmp_path / "missing.json", []))) == []


def test_state_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/a:{tmp_path}/b")
    assert resolve_state_dir("") == tmp_path / "a"  # systemd's StateDirectory=
    assert resolve_state_dir(str(tmp_path / "c")) == tmp_path / "c"


def test_topics() -> None:
    t = Topics("asicrc", "site-a")
    assert t.status == "asicrc/site-a/status"
    assert t.device_state("lv06") == "asicrc/site-a/lv06/state"
    assert t.method_of("asicrc/site-a/request/status") == "status"
    assert t.method_of("asicrc/site-b/request/status") is None
    assert t.method_of("asicrc/site-a/request/a/b") is None
