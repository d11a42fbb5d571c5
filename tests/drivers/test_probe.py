"""`asicrc probe` against real loopback services, through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import free_port
from drivers_fakes import S9_VERSION, FakeAxeOS, FakeGoldshell, FakeRpc, rpc_bytes

from asicrc.drivers.probe import parse_target, probe


async def test_probe_identifies_each_service() -> None:
    rpc = FakeRpc({"version": rpc_bytes(S9_VERSION)})
    axe, gold = FakeAxeOS(), FakeGoldshell()
    for s in (rpc, axe, gold):
        await s.start()
    try:
        found, errors = await probe("127.0.0.1", rpc.port, timeout_s=1.0)
        assert [(f.protocol, f.model, f.firmware, f.asicrc_model) for f in found] == [
            ("rpc4028", "Antminer S9", "BMMiner 2.0.0", "s9")]
        assert set(errors) == {f"axeos:{rpc.port}", f"goldshell:{rpc.port}"}
        found, _ = await probe("127.0.0.1", axe.port, timeout_s=1.0)
        assert [(f.protocol, f.model, f.asicrc_model) for f in found] == [("axeos", "Lucky Miner LV06", "lv06")]
        assert found[0].firmware == "v2.1.8"
        found, _ = await probe("127.0.0.1", gold.port, timeout_s=1.0)
        assert [(f.protocol, f.model, f.firmware, f.asicrc_model) for f in found] == [
            ("goldshell", "Goldshell-LBBox", "2.2.5", "lbbox")]
    finally:
        for s in (rpc, axe, gold):
            await s.stop()


def test_parse_target() -> None:
    assert parse_target("127.0.0.1") == ("127.0.0.1", None)
    assert parse_target("127.0.0.1:4028") == ("127.0.0.1", 4028)
    for bad in ("127.0.0.1:0", "127.0.0.1:x", ":80", "h:99999", "", "  "):
        with pytest.raises(ValueError, match="bad target"):
            parse_target(bad)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asicrc.daemon.cli", "probe", *args],
                          capture_output=True, text=True, timeout=30)


def test_cli_nothing_there_and_bad_target() -> None:
    port = free_port()
    r = cli(f"127.0.0.1:{port}", "--timeout", "0.5")
    assert r.returncode == 1 and "nothing identified" in r.stdout and f"rpc4028:{port}" in r.stdout
    r = cli("127.0.0.1:notaport")
    assert r.returncode == 1 and "bad target" in r.stderr and "Traceback" not in r.stderr


async def test_cli_json_output() -> None:
    axe = FakeAxeOS()
    await axe.start()
    try:
        import asyncio
        r = await asyncio.to_thread(cli, f"127.0.0.1:{axe.port}", "--json", "--timeout", "1")
    finally:
        await axe.stop()
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["found"][0]["protocol"] == "axeos" and out["found"][0]["asicrc_model"] == "lv06"
