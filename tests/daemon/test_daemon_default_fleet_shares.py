"""The embedded default fleet really mines: every simulated device's shares reach the pool and the share-based
hashrate (scaled back by the simulator's hash_scale, and by 256 on the LBRY pool) agrees with the hashrate the
device's own API reports."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from importlib import resources
from pathlib import Path

from conftest import free_port

ASICRC = str(Path(sys.executable).with_name("asicrc"))
MIN_SHARES = 15  # with >= 15 Poisson shares a factor-3 disagreement is a real error, not noise (p < 1e-4)


def default_config(tmp: Path, prom_port: int) -> str:
    """The shipped default with MQTT off, a free Prometheus port and a private state directory."""
    text = resources.files("asicrc.daemon").joinpath("default.toml").read_text()
    text = re.sub(r"(?m)^\[mqtt\]\n", "[mqtt]\nenabled = false\n", text)
    text = re.sub(r"(?m)^enabled = true( +# connects to 127.0.0.1:1883.*)$", "", text)
    text = re.sub(r"(?m)^port = 9808$", f"port = {prom_port}", text)
    return text.replace("[node]\n", f'[node]\nstate_dir = "{tmp / "state"}"\n', 1)


def scrape(port: int) -> dict[tuple[str, str], float]:
    """(metric, device) -> value; for shares_total only the accepted verdict."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[tuple[str, str], float] = {}
    for m in re.finditer(r'^(asicrc_[a-z_]+)\{([^}]*)\} (\S+)$', body, re.M):
        name, labels, value = m.group(1), m.group(2), float(m.group(3))
        device = re.search(r'device="([^"]+)"', labels)
        if device is None or (name == "asicrc_shares_total" and 'verdict="accepted"' not in labels):
            continue
        out[(name, device.group(1))] = value
    return out


def test_default_fleet_share_hashrate_matches_reported_hashrate(tmp_path: Path) -> None:
    prom_port = free_port()
    cfg = tmp_path / "default.toml"
    cfg.write_text(default_config(tmp_path, prom_port))
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen([ASICRC, "run", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    devices = ("s9", "lv06", "lbbox")
    try:
        deadline = time.monotonic() + 90
        metrics: dict[tuple[str, str], float] = {}
        while time.monotonic() < deadline:
            time.sleep(2)
            try:
                metrics = scrape(prom_port)
            except OSError:
                continue
            if all(metrics.get(("asicrc_shares_total", d), 0) >= MIN_SHARES for d in devices):
                break
        for d in devices:
            shares = metrics.get(("asicrc_shares_total", d), 0)
            assert shares >= MIN_SHARES, f"{d}: only {shares} accepted shares; log:\n{(tmp_path / 'daemon.log').read_text()}"
            reported = metrics[("asicrc_hashrate_hashes_per_second", d)]
            from_shares = metrics[("asicrc_share_hashrate_hashes_per_second", d)]
            assert reported > 0
            assert 1 / 3 < from_shares / reported < 3, (d, from_shares, reported)
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
