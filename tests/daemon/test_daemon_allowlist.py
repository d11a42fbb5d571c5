"""`asicrc run --print-allowlist`: the IPAddressAllow= drop-in a config needs (broker, network devices, worker
peers, DNS servers when a host is a name, --allow extras), and the unit with that drop-in passes
`systemd-analyze verify` (which reads drop-ins next to the unit: a broken one is reported, the control)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import find_tool

from asicrc.daemon.allowlist import dropin, needed_networks
from asicrc.daemon.config import load

ASICRC = str(Path(sys.executable).with_name("asicrc"))
UNIT = Path(__file__).resolve().parents[2] / "systemd" / "asicrc.service"
FARM = """
[mqtt]
host = "{broker}"
[stratum.workers.rig]
peers = ["10.1.2.0/24"]
[[devices]]
id = "s9a"
model = "s9"
transport = "rpc"
host = "192.168.10.21"
[[devices]]
id = "lv"
model = "lv06"
transport = "http"
host = "fd00::5"
[[devices]]
id = "old"
model = "s9"
transport = "rpc"
host = "192.168.10.99"
enabled = false
[[devices]]
id = "simulated"
model = "lv06"
"""


def _config(tmp_path: Path, broker: str) -> Path:
    path = tmp_path / "farm.toml"
    path.write_text(FARM.format(broker=broker))
    return path


def test_allowlist_lists_what_the_config_talks_to(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search lan\nnameserver 192.168.10.1\nnameserver fd00::53\n")
    cfg = load(str(_config(tmp_path, "broker.lan")))
    nets = [str(n) for n in needed_networks(cfg, ["192.168.20.5"], resolve=lambda host: ["192.168.10.2"],
                                            resolv_conf=resolv)]
    assert nets == ["10.1.2.0/24", "192.168.10.1/32", "192.168.10.2/32", "192.168.10.21/32", "192.168.20.5/32",
                    "fd00::5/128", "fd00::53/128"]
    # the disabled device is not in it; a broker given by address needs no DNS server; loopback is "localhost"
    cfg = load(str(_config(tmp_path, "127.0.0.1")))
    assert [str(n) for n in needed_networks(cfg, resolv_conf=resolv)] == [
        "10.1.2.0/24", "192.168.10.21/32", "fd00::5/128"]
    text = dropin(cfg, "farm.toml", resolv_conf=resolv)
    assert text.splitlines()[-2:] == ["IPAddressAllow=", "IPAddressAllow=localhost 10.1.2.0/24 192.168.10.21 fd00::5"]


def test_unresolvable_host_and_bad_extra_are_one_line_errors(tmp_path: Path) -> None:
    cfg = load(str(_config(tmp_path, "127.0.0.1")))
    with pytest.raises(ValueError, match=r"--allow: 'not-an-ip' is not an address or network"):
        needed_networks(cfg, ["not-an-ip"])
    cfg = load(str(_config(tmp_path, "no-such-host.invalid")))
    out = subprocess.run([ASICRC, "run", "--config", str(tmp_path / "farm.toml"), "--print-allowlist"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "'no-such-host.invalid' does not resolve" in out.stderr


def test_unit_with_the_generated_dropin_verifies(tmp_path: Path) -> None:
    tool = find_tool("systemd-analyze")
    out = subprocess.run([ASICRC, "run", "--config", str(_config(tmp_path, "127.0.0.1")), "--print-allowlist",
                          "--allow", "192.168.20.0/28"], capture_output=True, text=True, timeout=60, check=True)
    assert "IPAddressAllow=localhost 10.1.2.0/24 192.168.10.21 192.168.20.0/28 fd00::5" in out.stdout
    unit = tmp_path / "asicrc.service"
    unit.write_text(UNIT.read_text().replace("/opt/asicrc/venv/bin/asicrc", ASICRC))
    (tmp_path / "asicrc.service.d").mkdir()
    conf = tmp_path / "asicrc.service.d" / "network.conf"

    def warnings() -> list[str]:
        proc = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [ln for ln in proc.stderr.splitlines() if "network.conf" in ln or "asicrc.service" in ln]

    conf.write_text("[Service]\nIPAddressAllow=\nIPAddressAllow=localhost 10.0.0.0/33\n")
    assert any("10.0.0.0/33" in ln for ln in warnings())  # control: verify reads the drop-in and flags bad values
    conf.write_text(out.stdout)
    assert warnings() == []
