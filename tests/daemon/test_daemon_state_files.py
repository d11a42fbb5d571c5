"""A corrupt state file never stops the daemon: it is set aside with one log line and the daemon starts fresh.

Reproduces issue 13 item 10 (`[1,2]` in identities.json -> AttributeError about a second after start, when the
first device comes online) with the real `asicrc run` and a simulated LV06, for each kind of corruption.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import Broker
from daemon_harness import DaemonProc, module_broker  # noqa: F401

from asicrc.daemon.statefile import SavedIdentity, load_state

LV06 = '\n[[devices]]\nid = "lv06"\nmodel = "lv06"\nseed = 2\n'

CORRUPT = {
    "list": b"[1, 2]",
    "truncated": b'{"lv06": {"model": "lv06", "ser',
    "wrong types": b'{"lv06": {"model": 5, "serial": ["x"]}}',
    "entry not an object": b'{"lv06": [1]}',
    "not UTF-8": b"\xff\xfe\x00{",
}


def _device_up(d: DaemonProc, device: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    want = f'asicrc_device_up{{device="{device}",node="{d.node}"}} 1.0'
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{d.prom_port}/metrics", timeout=5) as resp:
                if want in resp.read().decode():
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


@pytest.mark.parametrize("kind", ["list", "truncated", "wrong types"])
def test_daemon_starts_past_a_corrupt_identities_file(module_broker: Broker, tmp_path: Path,  # noqa: F811
                                                      kind: str) -> None:
    state = tmp_path / "state-corrupt"
    state.mkdir()
    (state / "identities.json").write_bytes(CORRUPT[kind])
    d = DaemonProc(tmp_path, module_broker, node="corrupt", devices=LV06)
    try:
        d.notify.wait_for("READY=1", 30)
        assert _device_up(d, "lv06", 40), d.log()[-3000:]
        time.sleep(6.0)  # past the first identity write (every 5 s) and where the AttributeError used to hit
        assert d.proc.poll() is None, d.log()[-3000:]
    finally:
        assert d.stop() == 0, d.log()[-3000:]
    lines = [ln for ln in d.log().splitlines() if "identities.json" in ln]
    assert len(lines) == 1 and "is corrupt" in lines[0] and "moved to identities.json.corrupt-" in lines[0], lines
    assert "Traceback" not in d.log()
    aside = list(state.glob("identities.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == CORRUPT[kind]  # the bad file is kept, not lost
    fresh = json.loads((state / "identities.json").read_text())
    assert fresh["lv06"]["model"] == "lv06" and fresh["lv06"]["serial"]  # a new, valid file was written


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_loader_sets_aside_every_corruption(tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "identities.json"
    path.write_bytes(CORRUPT[kind])
    got = load_state(path, dict[str, SavedIdentity], {}, "saved identities")
    assert got == {} and not path.exists()
    assert len(list(tmp_path.glob("identities.json.corrupt-*"))) == 1
    assert len(caplog.records) == 1 and "is corrupt" in caplog.records[0].getMessage()


def test_loader_reads_a_good_file_and_a_missing_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "identities.json"
    assert load_state(path, dict[str, SavedIdentity], {}, "x") == {}
    path.write_text('{"lv06": {"model": "lv06", "serial": "SIM-lv06", "firmware": "v2", "chips": 1}}')
    got = load_state(path, dict[str, SavedIdentity], {}, "x")
    assert got == {"lv06": SavedIdentity("lv06", "SIM-lv06", "v2", 1)} and path.exists()
    assert caplog.records == []
