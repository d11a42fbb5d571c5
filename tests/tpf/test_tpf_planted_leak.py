"""Positive control of the instrument: a graded leak planted in the real SHA-256d labels, and the run's power.

δ = 0 is the null (the real labels, nothing to find); δ = 0.5 must be detected at modest sizes, yet the gate stays
closed because aborting the less likely half does not reduce net work per valid share (it pays only for
δ > 69/128 at k = 5); δ = 1 must open the gate. The analytic power behind `power.min_detectable_auc` is checked
against DeLong's test on simulated scores and against the planted runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asicrc.daemon.cli import main
from asicrc.native import hashing
from asicrc.reservoir.tpf.data import (
    final_labels,
    plant_leak,
    planted_bit,
    planted_oracle_auc,
    random_header,
    rate_to_difficulty,
)
from asicrc.reservoir.tpf.experiment import run_hash_experiment
from asicrc.reservoir.tpf.power import (
    abort_pays_below,
    auc_se,
    critical_z,
    detection_power,
    min_detectable_auc,
)
from asicrc.reservoir.tpf.stats import delong_auc

RATE = 1 / 16
MODEST = {"ks": (5,), "hashes": 30_000, "test_hashes": 15_000, "difficulty": rate_to_difficulty(RATE),
          "seeds": (0, 1), "classifiers": ("logreg",), "effort": 0.5}


def test_plant_leak_moves_the_rate_by_the_bit_and_keeps_it_overall() -> None:
    rng = np.random.default_rng(0)
    header = random_header(rng)
    nonces = np.arange(400_000, dtype=np.uint32)
    states = hashing.second_compression_states(header, nonces, 5)
    real = final_labels(header, nonces, rate_to_difficulty(RATE))
    assert np.array_equal(plant_leak(states, real, 0.0, RATE, np.random.default_rng(1)), real)
    planted = plant_leak(states, real, 0.5, RATE, np.random.default_rng(1))
    bit = planted_bit(states)
    assert abs(bit.mean() - 0.5) < 0.005
    # P(share | bit) = rate·(1 ± δ), within 4 binomial SDs
    for mask, factor in ((bit, 1.5), (~bit, 0.5)):
        p = RATE * factor
        assert abs(planted[mask].mean() - p) < 4 * np.sqrt(p * (1 - p) / mask.sum())
    assert abs(planted.mean() - RATE) < 4 * np.sqrt(RATE * (1 - RATE) / planted.size)
    assert abs(delong_auc(planted, bit.astype(float)).auc - planted_oracle_auc(0.5, RATE)) < 0.01
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plant_leak(states, real, 1.5, RATE, rng)


def test_analytic_power_matches_delong_on_simulated_scores() -> None:
    """At the computed min detectable AUC, DeLong's test (all seeds below alpha/tests) fires ~80 % of the time."""
    from scipy.stats import norm

    sizes, alpha, tests, reps = [(300, 3000), (300, 3000)], 0.01, 3, 300
    z_c = critical_z(alpha, tests)
    a_min = min_detectable_auc(sizes, z_c)
    assert 0.55 < a_min < 0.65
    assert detection_power(a_min, sizes, z_c) == pytest.approx(0.8, abs=1e-6)
    shift = np.sqrt(2) * norm.ppf(a_min)  # binormal scores with AUC a_min
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(reps):
        ok = True
        for m, n in sizes:
            y = np.r_[np.ones(m, bool), np.zeros(n, bool)]
            s = np.r_[rng.normal(shift, 1, m), rng.normal(0, 1, n)]
            ok &= delong_auc(y, s).p_greater < alpha / tests
        hits += ok
    assert abs(hits / reps - 0.8) < 0.08, hits / reps
    # the null: the same procedure at AUC 0.5 fires at most alpha/tests per seed
    assert detection_power(0.5, sizes, z_c) < alpha / tests
    assert auc_se(0.5, 300, 3000) == pytest.approx(np.sqrt(3301 / (12 * 300 * 3000)), rel=1e-3)


def test_abort_pays_only_below_the_break_even_share_ratio() -> None:
    assert abort_pays_below(5, 64, 64) == pytest.approx(59 / 128)
    assert 1 - abort_pays_below(5, 64, 64) == pytest.approx(69 / 128)  # δ a one-bit leak needs to pay


def _run(delta: float) -> dict[str, Any]:
    from asicrc.reservoir.tpf import TpfGate
    from asicrc.reservoir.tpf.power import decision

    rep = run_hash_experiment(plant_delta=delta, **MODEST)
    gate = TpfGate(alpha=0.01)
    gate.update(rep)
    rep["decision"] = decision(rep, gate.enabled, str(gate.state()["reason"]), 0.01)
    return rep


@pytest.fixture(scope="module")
def planted() -> dict[float, dict[str, Any]]:
    return {d: _run(d) for d in (0.0, 0.5, 1.0)}


def test_null_delta_zero_is_not_detected(planted: dict[float, dict[str, Any]]) -> None:
    rep = planted[0.0]
    assert rep["decision"]["leak_detected"] is False and rep["decision"]["gate_open"] is False
    assert rep["power"]["planted"]["oracle_auc_expected"] == 0.5
    assert 0.5 < rep["power"]["min_detectable_auc"] < 0.56
    val = rep["power"]["planted"]["validation"]["logreg@k=5"]
    assert val["detected"] is False and val["predicted_power_at_mean_auc"] < 0.8


def test_half_leak_is_detected_but_does_not_pay(planted: dict[float, dict[str, Any]]) -> None:
    rep = planted[0.5]
    assert rep["decision"]["leak_detected"] is True
    assert rep["decision"]["gate_open"] is False and "not reduced" in rep["decision"]["reason"]
    val = rep["power"]["planted"]["validation"]["logreg@k=5"]
    assert val["mean_auc"] > rep["power"]["min_detectable_auc"]
    assert val["predicted_power_at_mean_auc"] > 0.8  # the analytic power agrees with what happened
    assert val["detected"] is True and val["gate_p_value"] < 0.01
    for analytic, measured in zip(val["analytic_se"], val["delong_se"], strict=True):
        assert analytic == pytest.approx(measured, rel=0.2)
    oracle = rep["power"]["planted"]["oracle_auc_measured"]["mean"]
    assert abs(oracle - planted_oracle_auc(0.5, RATE)) < 0.03
    assert val["mean_auc"] < oracle + 0.01  # no classifier beats the bit itself


def test_full_leak_opens_the_gate(planted: dict[float, dict[str, Any]]) -> None:
    rep = planted[1.0]
    assert rep["decision"]["leak_detected"] is True and rep["decision"]["gate_open"] is True
    # the runs share jobs with the real SHA-256d run: same headers, labels differ only by the plant
    assert rep["runs"][0]["header_test"] == planted[0.0]["runs"][0]["header_test"]


def test_cli_plant_leak_reports_power_and_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tpf"
    rc = main(["tpf", "--rounds", "5", "--hashes", "3e4", "--positive-rate", str(RATE), "--seeds", "2",
               "--classifiers", "logreg", "--effort", "0.5", "--plant-leak", "0.5", "--toy-extra", "0",
               "--telemetry-seconds", "0", "--no-plots", "--out", str(out)])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["decision"]["gate_open"] is False and rep["decision"]["leak_detected"] is False
    assert rep["planted"]["decision"]["leak_detected"] is True and rep["planted"]["decision"]["gate_open"] is False
    assert rep["power"]["min_detectable_auc"] == rep["sha256"]["power"]["min_detectable_auc"]
    assert rep["planted"]["config"]["plant_delta"] == 0.5 and rep["sha256"]["config"]["plant_delta"] is None
    text = capsys.readouterr().out
    lines = [ln for ln in text.splitlines() if ln.startswith(("SHA-256d", "planted leak"))]
    assert len(lines) == 2 and all("detectable with 80% power: held-out AUC >=" in ln for ln in lines)
    assert "; no leak detected;" in lines[0] and "; leak detected;" in lines[1]


def test_plant_leak_out_of_range_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["tpf", "--plant-leak", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "--plant-leak must be in [0, 1]" in err and "Traceback" not in err
