"""The live gate: off unless held-out evidence is significant, and it says why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from asicrc.reservoir.tpf import GateEvidence, TpfGate


def ev(p: float = 1e-5, adv: float = 0.2, ci: tuple[float, float] = (0.1, 0.3), fa: float = 0.01) -> GateEvidence:
    return GateEvidence("hgb", p, adv, ci, 0.5, fa, 0.3, 0.42)


def test_starts_off_and_touches_nothing() -> None:
    g = TpfGate()
    s = g.state()
    assert s["enabled"] is False and "no held-out result" in s["reason"]
    assert g.keep(np.array([0.0, 0.9])).all()
    json.dumps(s)


@pytest.mark.parametrize(("evidence", "why"), [
    (ev(p=0.2), "not significant"),
    (ev(adv=-0.01, ci=(-0.05, 0.02)), "not reduced"),
    (ev(fa=0.3), "false-abort rate"),
])
def test_stays_off_and_says_why(evidence: GateEvidence, why: str) -> None:
    g = TpfGate(alpha=0.01, max_false_abort=0.05)
    assert g.update(evidence) is False
    s = g.state()
    assert s["enabled"] is False and why in s["reason"]
    assert s["p_value"] == evidence.p_value
    assert g.keep(np.array([0.0, 1.0])).all()


def test_turns_on_with_significant_held_out_advantage() -> None:
    g = TpfGate()
    assert g.update([ev(p=0.5), ev()]) is True
    s = g.state()
    assert s["enabled"] and s["classifier"] == "hgb" and s["ci"] == [0.1, 0.3] and s["threshold"] == 0.42
    assert g.keep(np.array([0.1, 0.42, 0.9])).tolist() == [False, True, True]
    json.dumps(s)
    g.update(ev(p=0.3))  # new evidence that fails switches it back off
    assert not g.enabled and g.keep(np.array([0.0])).all()


def test_update_from_report_dict_and_bad_config() -> None:
    report = {"source": "toy", "classifiers": {"logreg@k=5": {"gate": {
        "p_value": 0.0, "advantage": 0.3, "ci": [0.2, 0.4], "savings": 0.8, "false_abort_rate": 0.02,
        "keep_rate": 0.1, "threshold": 0.5}}}}
    g = TpfGate()
    assert g.update(report)
    assert g.state()["source"] == "toy"
    assert not g.update({"classifiers": {}}) and "no held-out" in g.state()["reason"]
    with pytest.raises(ValueError, match="alpha"):
        TpfGate(alpha=0)
    with pytest.raises(ValueError, match="max_false_abort"):
        TpfGate(max_false_abort=1.5)


def test_update_from_report_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    gate_entry = {"p_value": None, "advantage": None, "ci": [None, None], "savings": 0.9, "false_abort_rate": 1.0,
                  "keep_rate": 0.0, "threshold": None}
    path.write_text(json.dumps({"sha256": {"source": "hash", "classifiers": {"mlp@k=5": {"gate": gate_entry}}},
                                "telemetry": {"runs": [{"classifiers": {"hgb": {"gate": {**gate_entry, "p_value": 0.5}}}},
                                                       {"classifiers": {"hgb": {"gate": {**gate_entry, "p_value": 0.9}}}}]}}))
    g = TpfGate()
    assert g.update_from_file(path) is False
    assert "not significant" in g.state()["reason"] and g.state()["p_value"] == 1.0  # null p -> 1.0
    assert g.update_from_file(path, "telemetry") is False and g.state()["p_value"] == 0.9  # worst seed
    with pytest.raises(ValueError, match="no 'toy' section"):
        g.update_from_file(path, "toy")
    with pytest.raises(ValueError, match="cannot read"):
        g.update_from_file(tmp_path / "missing.json")
