"""Enrolments persist across restarts (separate processes), and verify accepts the device and rejects others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asicrc.daemon.cli import main
from asicrc.reservoir.puf.challenge import default_challenge
from asicrc.reservoir.puf.signature import extract_signature
from asicrc.reservoir.puf.simsource import run_challenge
from asicrc.reservoir.puf.store import Enrolment, EnrolmentStore

STEP = "15"


def asicrc(*args: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter per call: nothing survives between calls except the files on disk."""
    return subprocess.run([sys.executable, "-m", "asicrc.daemon.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_store_roundtrip_and_errors(tmp_path: Path) -> None:
    ch = default_challenge("lv06", step_s=10)
    sigs = [extract_signature(run_challenge("LV-1", ch, session_seed=s)) for s in (1, 2)]
    store = EnrolmentStore(tmp_path)
    store.save(Enrolment("LV-1", "lv06", "LV-1", ch, sigs, [25.0, 25.0]))
    again = EnrolmentStore(tmp_path).load("LV-1")  # a new store object: what a restarted daemon does
    assert again.template.tolist() == Enrolment("LV-1", "lv06", "LV-1", ch, sigs).template.tolist()
    assert again.challenge.digest == ch.digest
    with pytest.raises(ValueError, match="device id must match"):
        store.load("../etc/passwd")
    with pytest.raises(ValueError, match="no enrolment"):
        store.load("nobody")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        store.load_all()
    (tmp_path / "broken.json").write_text(json.dumps({"format": 1, "device_id": "x"}))
    with pytest.raises(ValueError, match="malformed enrolment"):
        store.load_all()


def test_identity_is_stable_across_restarts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    for serial in ("LV-A", "LV-B", "LV-C"):  # enrol in this process ...
        assert main(["puf", "enrol", "--serial", serial, "--store", store, "--step-s", STEP]) == 0
        assert main(["puf", "enrol", "--serial", serial, "--store", store, "--step-s", STEP, "--append",
                     "--ambient", "32", "--sessions", "1"]) == 0
        assert "3 session(s) at [25.0, 32.0] C" in capsys.readouterr().out
    # ... verify in fresh interpreters: only the files on disk carry the identities over
    genuine = asicrc("puf", "verify", "--serial", "LV-B", "--store", store, "--step-s", STEP, "--json")
    assert genuine.returncode == 0, genuine.stdout + genuine.stderr
    decision = json.loads(genuine.stdout)
    assert decision["accepted"] and decision["device_id"] == "LV-B"
    stranger = asicrc("puf", "verify", "--serial", "LV-Z", "--store", store, "--step-s", STEP)
    assert stranger.returncode == 3 and stranger.stdout.startswith("REJECT"), stranger.stdout
    # in process again: a warmer room is still the same device; a false claim is rejected
    assert main(["puf", "verify", "--serial", "LV-B", "--store", store, "--step-s", STEP, "--ambient", "30"]) == 0
    assert capsys.readouterr().out.startswith("ACCEPT LV-B")
    assert main(["puf", "verify", "--serial", "LV-A", "--claim", "LV-C", "--store", store, "--step-s", STEP]) == 3


def test_cli_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["puf", "verify", "--serial", "LV-A", "--store", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "run `asicrc puf enrol` first" in err and "Traceback" not in err
    assert main(["puf", "enrol", "--serial", "LV-A", "--store", str(tmp_path), "--append"]) == 1
    assert "no enrolment" in capsys.readouterr().err


def test_enrol_never_overwrites_an_enrolment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    assert main(["puf", "enrol", "--serial", "LV-A", "--store", str(store), "--step-s", STEP,
                 "--sessions", "1"]) == 0
    before = (store / "LV-A.json").read_text()
    capsys.readouterr()
    assert main(["puf", "enrol", "--serial", "LV-A", "--store", str(store), "--step-s", STEP,
                 "--seed", "9"]) == 1
    err = capsys.readouterr().err
    assert "already enrolled" in err and "--append" in err and err.count("\n") == 1, err
    assert (store / "LV-A.json").read_text() == before


@pytest.mark.parametrize("args, message", [
    (["enrol", "--serial", "LV-A", "--ambient", "500"], "--ambient must be -40..80 degC"),
    (["verify", "--serial", "LV-A", "--ambient", "nan"], "--ambient must be -40..80 degC"),
    (["verify", "--serial", "LV-A", "--threshold", "-3"], "--threshold must be a distance > 0"),
    (["evaluate", "--alt-ambient", "200"], "--alt-ambient must be -40..80 degC"),
    (["evaluate", "--bootstrap", "0"], "--bootstrap must be >= 1"),
    (["evaluate", "--age-days", "-5"], "--age-days must be 0..7300"),
    (["evaluate", "--calibrate-on", "moon"], "calibration conditions must be a non-empty subset"),
])
def test_out_of_range_numbers_are_refused_up_front(args: list[str], message: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    if args[0] != "evaluate":
        args = [*args, "--store", str(tmp_path)]
    assert main(["puf", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic_through_the_shared_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that dies before the rename (planted: os.replace fails) leaves the previous enrolment intact and no
    temporary file behind; the same save without the fault replaces it."""
    import os

    from asicrc.drivers import atomicfile

    ch = default_challenge("lv06", step_s=10)
    sigs = [extract_signature(run_challenge("LV-1", ch, session_seed=s)) for s in (1, 2)]
    store = EnrolmentStore(tmp_path)
    store.save(Enrolment("LV-1", "lv06", "LV-1", ch, sigs[:1], [25.0]))
    before = (tmp_path / "LV-1.json").read_text()
    real_replace = os.replace

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomicfile.os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        store.save(Enrolment("LV-1", "lv06", "LV-1", ch, sigs, [25.0, 25.0]))
    assert (tmp_path / "LV-1.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LV-1.json"]
    monkeypatch.setattr(atomicfile.os, "replace", real_replace)
    store.save(Enrolment("LV-1", "lv06", "LV-1", ch, sigs, [25.0, 25.0]))
    assert len(EnrolmentStore(tmp_path).load("LV-1").sessions) == 2
