"""Config validation: one-line errors naming the dotted key; nothing starts on a bad config."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from asicrc.daemon import config

ASICRC = str(Path(sys.executable).with_name("asicrc"))


def test_embedded_default_is_the_simulated_fleet() -> None:
    cfg = config.load(None)
    assert [(d.id, d.model, d.transport) for d in cfg.devices] == [
        ("s9", "s9", "sim"), ("lv06", "lv06", "sim"), ("lbbox", "lbbox", "sim")]
    assert cfg.prometheus.host == "127.0.0.1"
    assert cfg.stratum.enabled and cfg.reservoir.enabled and cfg.tpf.enabled and cfg.mqtt.enabled


@pytest.mark.parametrize("text, expected", [
    ("[mqtt]\nprot = 1\n", "mqtt.prot: unknown key"),
    ("bogus = 1\n", "bogus: unknown key"),
    ("[mqtt]\nport = \"1883\"\n", "mqtt.port: expected `int`, got `str`"),
    ("[mqtt]\nport = 70000\n", "mqtt.port: expected `int` <= 65535"),
    ("[prometheus]\nenabled = \"yes\"\n", "prometheus.enabled: expected `bool`"),
    ("[node]\nid = \"has space\"\n", "node.id: expected `str` matching regex"),
    ("[[devices]]\nid = \"a\"\nmodel = \"s19\"\n", "devices[0].model: invalid enum value 's19'"),
    ("[[devices]]\nmodel = \"lv06\"\n", "devices[0].id: required key is missing"),
    ("[[devices]]\nid = \"a\"\nmodel = \"lv06\"\nfrequency_mhz = 900\n",
     "devices[0].frequency_mhz: 900 is outside the lv06 safety envelope [400, 575]"),
    ("[[devices]]\nid = \"a\"\nmodel = \"lv06\"\ncore_voltage_mv = 1500\n",
     "devices[0].core_voltage_mv: 1500 is outside the lv06 safety envelope"),
    ("[[devices]]\nid = \"a\"\nmodel = \"s9\"\n[[devices]]\nid = \"a\"\nmodel = \"lv06\"\n",
     "devices[1].id: duplicate device id 'a'"),
    ("[[devices]]\nid = \"a\"\nmodel = \"bm1366-uart\"\ntransport = \"serial\"\n",
     "devices[0].serial_port: required"),
    ("[mqtt]\nallow_commands = [\"rm_rf\"]\n", "mqtt.allow_commands[0]: invalid enum value 'rm_rf'"),
    ("[mqtt]\nca_file = \"/nonexistent/ca.pem\"\ntls = true\n", "mqtt.ca_file: file '/nonexistent/ca.pem'"),
    ("[mqtt\n", "not valid TOML"),
])
def test_bad_config_names_the_key(text: str, expected: str) -> None:
    with pytest.raises(config.ConfigError) as info:
        config.parse(text, "site.toml")
    msg = str(info.value)
    assert msg.startswith("site.toml: ")
    assert expected in msg, msg
    assert "\n" not in msg


def test_valid_real_fleet_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "asicrc.toml"
    path.write_text('[node]\nid = "site-a"\n[[devices]]\nid = "lv06-a"\nmodel = "lv06"\ntransport = "http"\n'
                    'host = "127.0.0.1"\nport = 8080\nfrequency_mhz = 485\ncore_voltage_mv = 1200\n')
    cfg = config.load(path)
    assert cfg.node_id == "site-a"
    assert cfg.devices[0].frequency_mhz == 485.0


@pytest.mark.parametrize("text, key", [
    ("[mqtt]\nhots = \"x\"\n", "mqtt.hots: unknown key"),
    ("[[devices]]\nid = \"s9\"\nmodel = \"s9\"\nfrequency_mhz = 2000\n", "devices[0].frequency_mhz"),
    ("[stratum]\nport = -1\n", "stratum.port"),
])
def test_asicrc_run_fails_fast_with_one_line(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    t0 = time.monotonic()
    proc = subprocess.run([ASICRC, "run", "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert key in lines[0] and str(path) in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert time.monotonic() - t0 < 20


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([ASICRC, "run", "--config", str(tmp_path / "nope.toml")], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "cannot read config" in proc.stderr


def test_check_flag_validates_only(tmp_path: Path) -> None:
    proc = subprocess.run([ASICRC, "run", "--check"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "ok (3 device(s)" in proc.stdout and proc.stderr == ""


def test_check_says_when_no_device_is_configured(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("[node]\nid = \"n1\"\n")
    proc = subprocess.run([ASICRC, "run", "--check", "--config", str(empty)], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and "ok (0 device(s)" in proc.stdout
    assert "no enabled [[devices]]" in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("[[devices]]\nid = \"a\"\nmodel = \"bm1366\"\n",
     "devices[0].model: invalid enum value 'bm1366' (choose from s9, lv06, lbbox, bm1366-uart, bm1387-uart, planted, inert)"),
    ("[[devices]]\nid = \"a\"\nmodel = \"s9\"\ntransport = \"usb\"\n",
     "devices[0].transport: invalid enum value 'usb' (choose from sim, http, rpc, serial)"),
    ("[node]\nlog_level = \"loud\"\n", "node.log_level: invalid enum value 'loud' (choose from debug, info,"),
    ("[mqtt]\nallow_commands = [\"rm_rf\"]\n", "(choose from set_frequency, set_voltage, set_fan"),
])
def test_bad_enum_value_lists_the_choices(text: str, expected: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.parse(text, "t.toml")
    assert expected in str(err.value)
