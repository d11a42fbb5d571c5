"""FAR/FRR/EER over >= 20 held-out simulated devices, with ambient shift, controls and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asicrc.reservoir.puf.cli_puf import add_arguments, run
from asicrc.reservoir.puf.evaluate import EvalConfig, evaluate, summarize
from asicrc.reservoir.puf.plots import plot_distances, plot_group_eer

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    # the same-day protocol (no service events): scales and threshold from same-day sessions
    return evaluate(EvalConfig(model="lv06", devices=20, calibration_devices=5, step_s=15, bootstrap=200, seed=3,
                               conditions=("same", "alt"), calibration_conditions=("same", "alt")))


def test_devices_are_identified_and_controls_are_at_chance(report: dict[str, Any]) -> None:
    assert len(report["evaluation_devices"]) == 20
    assert not set(report["evaluation_devices"]) & set(report["calibration_devices"])
    every = report["groups"]["all"]
    for cond in ("same", "alt"):
        c = every[cond]
        assert c["eer_ci"][0] <= c["eer"] <= c["eer_ci"][1]
        assert c["eer"] < 0.05 and c["eer_ci"][1] < 0.2
        if c["eer"] == 0:  # no error in 20 devices does not mean a rate of exactly 0: exact 0-failure bound
            assert c["eer_ci"][1] == pytest.approx(1 - 0.025 ** (1 / 20))
        assert c["n_genuine"] == 20 and c["n_impostor"] == 20 * 19
        # FAR/FRR intervals come from the device bootstrap (pairs are dependent), the pair-Wilson one is reference
        assert c["far_ci"][0] <= c["far"] <= c["far_ci"][1] and c["frr_ci"][0] <= c["frr"] <= c["frr_ci"][1]
        assert "far_ci_wilson_pairs" in c
        assert 0.3 < c["control_shuffled_eer"] < 0.7  # shuffled identities: chance, or the pipeline leaks
    # the paper's "timing signature": scale-free share-timing statistics of a Poisson process carry no identity
    assert report["groups"]["timing"]["same"]["eer"] > 0.25
    print(summarize(report))


def test_plots(report: dict[str, Any], tmp_path: Path) -> None:
    for f in (plot_distances(report, tmp_path / "d.png"), plot_group_eer(report, tmp_path / "g.png")):
        assert f.read_bytes().startswith(PNG) and f.stat().st_size > 10_000


def test_evaluate_cli_writes_report_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["evaluate", "--devices", "3", "--calibration-devices", "3", "--step-s", "10",
                              "--bootstrap", "50", "--seeds", "5", "6", "--out", str(tmp_path)])
    assert run(args) == 0
    out = capsys.readouterr().out
    assert "EER [95% CI]" in out and "across 2 seeds" in out
    report = json.loads((tmp_path / "report_seed5.json").read_text())
    assert report["config"]["seed"] == 5 and "all" in report["groups"]
    assert (tmp_path / "distances_seed6.png").read_bytes().startswith(PNG)


def test_bad_config_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=">= 2 evaluation"):
        evaluate(EvalConfig(devices=1))
