"""The `asicrc` dispatcher: SIGTERM / Ctrl-C and file errors end a command with one line and a non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from asicrc.daemon import cli


def _fake_command(monkeypatch: pytest.MonkeyPatch, run: Callable[[argparse.Namespace], int]) -> None:
    module = types.ModuleType("asicrc_test_fake_command")
    module.add_arguments = lambda parser: None  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "fake", (lambda: module, "test command"))


def test_sigterm_unwinds_with_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    unwound: list[bool] = []

    def run(args: argparse.Namespace) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises during the sleep
            return 0
        finally:
            unwound.append(True)

    _fake_command(monkeypatch, run)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["fake"]) == 143
    assert unwound == [True]  # finally blocks ran: partial output gets closed, not cut off
    assert capsys.readouterr().err == "asicrc fake: terminated (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) == before


def test_ctrl_c_prints_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def run(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    _fake_command(monkeypatch, run)
    assert cli.main(["fake"]) == 130
    assert capsys.readouterr().err == "asicrc fake: interrupted\n"


def test_file_errors_name_the_path_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("")
    assert cli.main(["tpf", "--out", str(a_file), "--hashes", "1e4", "--positive-rate", "0.05"]) == 1
    assert capsys.readouterr().err == f"asicrc tpf: error: {a_file}: exists and is not a directory\n"
    assert cli.main(["frames", "decode", "--chip", "bm1366", str(tmp_path / "missing.bin")]) == 1
    assert capsys.readouterr().err == f"asicrc frames: error: {tmp_path / 'missing.bin'}: No such file or directory\n"
    assert cli.describe_error(OSError(98, "address already in use")) == "[Errno 98] address already in use"


def test_interrupted_asyncio_task_adds_no_traceback(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # SIGTERM/Ctrl-C landing inside a task leaves it holding the exception; when it is collected asyncio logs
    # "Task exception was never retrieved" with a traceback unless the dispatcher filters it
    def run(args: argparse.Namespace) -> int:
        loop = asyncio.new_event_loop()
        tasks: list[asyncio.Task[None]] = []

        async def hit() -> None:
            await asyncio.sleep(0)
            raise cli.Terminated()

        async def experiment() -> None:
            tasks.append(loop.create_task(hit()))
            await asyncio.sleep(5)

        try:
            loop.run_until_complete(experiment())
        finally:
            loop.close()
            tasks.clear()
        return 0

    _fake_command(monkeypatch, run)
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        assert cli.main(["fake"]) == 143
        gc.collect()
    assert not [r for r in caplog.records if r.name == "asyncio" and r.exc_info], caplog.text
    assert capsys.readouterr().err == "asicrc fake: terminated (SIGTERM)\n"


def test_closed_stdout_pipe_is_quiet() -> None:
    # `asicrc ... | head -1`: the reader is gone before the output is written
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "asicrc.daemon.cli", "frames", "encode", "--chip", "bm1366",
                               "--pll", "500"], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_bare_asicrc_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "usage: asicrc" in out.err and "a COMMAND is required" in out.err
    assert cli.main(["--help"]) == 0 and "usage: asicrc" in capsys.readouterr().out
