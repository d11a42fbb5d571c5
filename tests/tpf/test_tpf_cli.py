"""`asicrc tpf` end to end: report.json and plots; bad input gives one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asicrc.daemon.cli import main


@pytest.mark.slow
def test_cli_writes_report_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asicrc.reservoir.eventcols import events_to_columns
    from asicrc.reservoir.recording import RunRecord, save_run
    from asicrc.reservoir.tpf.simstream import generate_events

    z = np.zeros(2)
    save_run(tmp_path / "rec", "dev", RunRecord(u=z, target=z, features=np.zeros((2, 1)), feature_names=["x"],
                                                events=events_to_columns(generate_events(9, 1200.0))))
    out = tmp_path / "tpf"
    rc = main(["tpf", "--rounds", "4-5", "--hashes", "1e4", "--positive-rate", "0.02", "--seeds", "2",
               "--classifiers", "logreg,mlp", "--effort", "0.3", "--telemetry-seconds", "1200",
               "--recording", str(tmp_path / "rec" / "dev"), "--out", str(out)])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["early_reject"]["identical_accepts"] is True
    assert set(rep["gate"]) == {"sha256", "toy", "telemetry", "telemetry_recording"}
    assert rep["telemetry_recording"]["config"]["n_test"] > 100
    assert rep["gate"]["sha256"]["enabled"] is False
    assert rep["sha256"]["config"]["ks"] == [4, 5] and len(rep["sha256"]["runs"]) == 4
    for name in rep["plots"]:
        assert (out / name).stat().st_size > 5000
    assert "sha256_k5_roc.png" in rep["plots"] and "toy_k4_savings_vs_false_abort.png" in rep["plots"]
    text = capsys.readouterr().out
    assert "exact early reject" in text and "gate" in text


@pytest.mark.parametrize(("argv", "msg"), [
    (["--rounds", "abc"], "--rounds must look like"),
    (["--rounds", "70"], "1..60"),
    (["--hashes", "lots"], "expected a count"),
    (["--difficulty", "1", "--hashes", "1e4"], "too few to evaluate"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--classifiers", "svm", "--hashes", "1e4", "--positive-rate", "0.05"], "unknown classifier"),
])
def test_bad_input_is_one_clear_line(tmp_path: Path, argv: list[str], msg: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    try:
        rc = main(["tpf", *argv, "--out", str(tmp_path)])
    except SystemExit as exc:  # argparse rejects malformed values before run()
        rc = int(exc.code or 0)
    err = capsys.readouterr().err
    assert rc != 0
    assert msg in err and "Traceback" not in err


def test_cli_module_runs_as_a_process(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "asicrc.daemon.cli", "tpf", "--rounds", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "1..60" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_recording_fails_before_any_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tpf"
    rc = main(["tpf", "--rounds", "5", "--hashes", "1e4", "--positive-rate", "0.05", "--seeds", "1",
               "--recording", str(tmp_path / "nope" / "dev"), "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "does not exist" in captured.err and captured.err.count("\n") == 1, captured.err
    assert captured.out == "" and not out.exists()  # nothing ran, nothing half-written


def test_report_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from asicrc.drivers import atomicfile
    from asicrc.reservoir.tpf import cli_tpf as tpf_cli

    written: list[str] = []
    real = atomicfile.atomic_write_json
    monkeypatch.setattr(tpf_cli, "atomic_write_json",
                        lambda path, obj, **kw: (written.append(Path(path).name), real(path, obj, **kw)))
    out = tmp_path / "tpf"
    rc = main(["tpf", "--rounds", "5", "--hashes", "1e4", "--positive-rate", "0.05", "--seeds", "1",
               "--classifiers", "logreg", "--toy-extra", "0", "--telemetry-seconds", "0", "--no-plots",
               "--out", str(out)])
    assert rc == 0 and written == ["report.json"]
    assert json.loads((out / "report.json").read_text())["command"] == "asicrc tpf"
    assert [p.name for p in out.iterdir()] == ["report.json"]  # no temporary left behind
