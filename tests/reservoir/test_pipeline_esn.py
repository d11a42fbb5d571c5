"""End to end through the CLI on the software ESN backend: report, plots, recording, replay."""

import json
from pathlib import Path

import numpy as np
import pytest

from asicrc.daemon.cli import main
from asicrc.reservoir.analysis import AnalysisConfig, analyze_seed
from asicrc.reservoir.narma import generate_narma10
from asicrc.reservoir.recording import RunRecord, load_run


def test_cli_esn_report_plots_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "esn"
    rc = main(["narma", "--backend", "esn", "--steps", "2500", "--seeds", "7", "--out", str(out), "--esn-units",
               "100"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "narma esn [" in captured.err  # progress bar on stderr
    report = json.loads((out / "report.json").read_text())
    # an ESN-100 adds information over 10 input lags but does not beat NG-RC's quadratic features of 30 lags
    decision = report["decision"]
    assert decision["adds_over_lags10"] is True and decision["beats_best_input_only"] is False
    assert decision["best_input_only"] == "quad30" and decision["level_reachable"] is True
    assert "ADD significant information over 10 input lags" in captured.out
    from asicrc.daemon.experiments import summarize_report  # what an MQTT start_narma client receives

    assert summarize_report(report)["decision"] == {"beats_best_input_only": False, "adds_over_lags10": True,
                                                    "adds_over_commanded20": None, "adds_information": True}
    assert "adds_over_lags10=True" in captured.out and "does NOT beat the best input-only control quad30" in captured.out
    for png in ("prediction.png", "nrmse_bars.png", "memory_capacity.png", "ipc.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    models = report["models"]
    for m in ("mean", "lags10", "lags20", "quad10", "quad20", "quad30", "device", "device_shuffled", "constant_drive",
              "device+lags10", "esn_ref"):
        assert models[m]["nrmse"]["n"] == 7 and len(models[m]["nrmse"]["per_seed"]) == 7
    assert "commanded20" not in models  # the esn backend has no actuation knob
    assert models["mean"]["nrmse"]["mean"] == pytest.approx(1.0, abs=0.05)
    assert models["device_shuffled"]["nrmse"]["mean"] > 0.95
    assert models["constant_drive"]["nrmse"]["mean"] > 0.95
    assert models["device"]["nrmse"]["mean"] < models["lags10"]["nrmse"]["mean"]
    # range-normalised numbers are about 1/6 of the std-normalised ones: both are reported
    assert models["mean"]["nrmse_range"]["mean"] < 0.3
    assert report["memory_capacity"]["lags10"]["mean"] == pytest.approx(10.0, abs=0.3)
    assert report["memory_capacity"]["device"]["mean"] > 5
    ipc = report["ipc"]  # capacity by degree beside the state dimension, for the device and every control
    assert ipc["lags10"]["by_degree"]["1"]["mean"] == pytest.approx(10.0, abs=0.01)
    assert ipc["quad10"]["total"]["mean"] == pytest.approx(65.0, abs=1.0)
    assert ipc["device"]["dimension"]["mean"] == 100
    assert 50 < ipc["device"]["total"]["mean"] <= 103  # the ESN-100 device: close to, not above, its dimension
    assert ipc["device_shuffled"]["total"]["mean"] < 2 and ipc["constant_drive"]["total"]["mean"] < 2
    meta = json.loads((out / "runs" / "seed0_drive.json").read_text())
    assert meta["backend"] == "esn" and meta["seed"] == 0 and "numpy" in meta["versions"]

    # replay into another directory reproduces every number
    rc = main(["narma", "--replay", str(out), "--out", str(tmp_path / "replayed")])
    assert rc == 0
    again = json.loads((tmp_path / "replayed" / "report.json").read_text())
    assert again["models"] == report["models"]
    assert again["verdict"] == report["verdict"] and again["decision"] == report["decision"]


def test_constant_feature_run_is_caught(tmp_path: Path) -> None:
    """The paper's earlier 0.17: a state that never changes. It must score ≈ 1 (std) and lose to every control."""
    s = generate_narma10(1200, seed=3)
    frozen = RunRecord(u=s.u, target=s.target, features=np.tile([[0.3, 0.7]], (1200, 1)), feature_names=["a", "b"])
    res = analyze_seed(frozen, None, 3, AnalysisConfig(washout=100, mc_kmax=20))
    assert res.metrics["device"]["nrmse"] == pytest.approx(1.0, abs=0.05)
    assert 0.1 < res.metrics["device"]["nrmse_range"] < 0.25


def test_target_leak_is_caught_by_the_shuffle_control() -> None:
    s = generate_narma10(1200, seed=4)
    leaky = RunRecord(u=s.u, target=s.target, features=s.target[:, None].copy(), feature_names=["y"])
    res = analyze_seed(leaky, None, 4, AnalysisConfig(washout=100, mc_kmax=20))
    assert res.metrics["device"]["nrmse"] < 0.01
    assert res.metrics["device_shuffled"]["nrmse"] > 0.95


def test_bad_cli_input_gives_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["narma", "--backend", "nope", "--out", str(tmp_path)]) == 1
    assert "unknown backend 'nope'" in capsys.readouterr().err
    assert main(["narma", "--replay", str(tmp_path)]) == 1
    assert "not a recording directory" in capsys.readouterr().err
    assert main(["narma", "--backend", "esn", "--steps", "100", "--out", str(tmp_path)]) == 2  # usage error, before anything runs
    assert "too short" in capsys.readouterr().err
    assert main(["narma", "--backend", "esn", "--mode", "dialogue", "--steps", "500", "--out", str(tmp_path),
                 "--no-progress"]) == 1
    assert "supports modes monologue and constant" in capsys.readouterr().err
    with pytest.raises(ValueError, match="does not exist"):
        load_run(tmp_path, "missing")


def test_cli_never_overwrites_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["narma", "--backend", "esn", "--steps", "250", "--washout", "50", "--seeds", "1", "--esn-units", "20",
            "--no-progress", "--out", str(out)]
    assert main(args) == 0
    recorded = {p.name: p.read_bytes() for p in (out / "runs").iterdir()}
    experiment = (out / "experiment.json").read_bytes()
    capsys.readouterr()
    assert main([*args, "--seed-base", "7"]) == 1
    err = capsys.readouterr().err
    assert "already holds an experiment" in err and "--replay" in err and err.count("\n") == 1, err
    assert (out / "experiment.json").read_bytes() == experiment
    assert {p.name: p.read_bytes() for p in (out / "runs").iterdir()} == recorded


def test_cli_bad_washout_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["narma", "--backend", "esn", "--steps", "400", "--washout", "-5", "--no-progress",
                 "--out", str(out)]) == 2
    assert "--washout must be >= 0" in capsys.readouterr().err
    assert not out.exists()
