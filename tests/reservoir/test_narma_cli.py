"""`asicrc narma` usage errors come up front (one line, exit 2); reports are written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asicrc.daemon.cli import main
from asicrc.drivers import atomicfile
from asicrc.reservoir import experiment


def test_without_out_a_run_writes_a_new_directory_under_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["narma", "--backend", "esn", "--steps", "301", "--seeds", "1", "--no-progress"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("narma-") and (run / "report.json").is_file()
    assert f"report: {Path('runs') / run.name / 'report.json'}" in capsys.readouterr().out


def test_too_few_steps_names_the_minimum_before_anything_runs(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["narma", "--backend", "esn", "--steps", "250", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert "need --steps >= 301" in err and "--washout 200" in err
    assert main(["narma", "--backend", "esn", "--steps", "50", "--washout", "0", "--out", str(out)]) == 2
    assert "need --steps >= 101" in capsys.readouterr().err
    assert not out.exists()  # nothing started, nothing written


def test_report_goes_through_the_atomic_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    written: list[str] = []
    real = atomicfile.atomic_write_json

    def spy(path: Path, obj: Any, **kw: Any) -> None:
        written.append(Path(path).name)
        real(path, obj, **kw)

    monkeypatch.setattr(experiment, "atomic_write_json", spy)
    out = tmp_path / "esn"
    assert main(["narma", "--backend", "esn", "--steps", "120", "--washout", "10", "--seeds", "1",
                 "--esn-units", "20", "--no-progress", "--out", str(out)]) == 0
    assert written == ["experiment.json", "report.json", "timing.json"]
    assert "verdict" in json.loads((out / "report.json").read_text())
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")]  # no temporary left behind
    assert {"report.json", "prediction.png", "nrmse_bars.png", "memory_capacity.png"} <= set(names)
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "seed0_constant.json", "seed0_constant.npz", "seed0_drive.json", "seed0_drive.npz"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--backend", "sim:planted", "--step-s", "-1"], "--step-s must be a number > 0, got -1.0"),
    (["--backend", "sim:lv06", "--clock", "wall", "--speed", "0"], "--speed must be a number > 0"),
    (["--parallel", "0"], "--parallel and --virtual-nodes must be >= 1"),
    (["--d-base", "nan"], "--d-base must be a number > 0"),
    (["--backend", "sim:s9", "--encoding", "frequency", "--step-s", "10"], "cannot change frequency_mhz"),
    (["--backend", "sim:planted", "--encoding", "fan", "--step-s", "0.5"], "1 s settle time for fan_percent"),
])
def test_bad_run_settings_are_refused_before_the_out_directory_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    """A refusal found only by the first run used to leave experiment.json behind, and that --out then refused a
    corrected rerun ("already holds an experiment")."""
    out = tmp_path / "run"
    assert main(["narma", *args, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1, err
    assert not out.exists()
