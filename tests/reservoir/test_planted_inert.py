"""The device-level controls end to end: `asicrc narma` on virtual time, through the real Stratum/AxeOS code paths,
at the default seeds. A simulated LV06 whose sensors carry a planted reservoir must be called "adds information
over lags10"; one whose physics ignore the input (and whose sensors wander as much, by themselves) must not.
Without both, "the device adds nothing" would not be a measurement: the pipeline might be unable to say anything
else. 600 steps is about the shortest run at which the planted effect (~0.1 NRMSE) holds on every seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asicrc.daemon.cli import main


def _decision(backend: str, out: Path) -> dict[str, object]:
    rc = main(["narma", "--backend", backend, "--steps", "600", "--washout", "50", "--parallel", "2",
               "--out", str(out), "--no-progress"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["decision"]["n_seeds"] >= 7 and report["decision"]["level_reachable"]  # the default seeds
    return dict(report["decision"])


@pytest.mark.slow
def test_planted_device_adds_information_and_inert_device_does_not(tmp_path: Path) -> None:
    planted = _decision("sim:planted", tmp_path / "planted")
    assert planted["adds_over_lags10"] is True, planted
    inert = _decision("sim:inert", tmp_path / "inert")
    assert inert["adds_over_lags10"] is False, inert
    assert inert["beats_best_input_only"] is False
