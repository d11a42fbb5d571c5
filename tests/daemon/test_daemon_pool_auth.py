"""The daemon's built-in pool as configured by [stratum] + [[devices]] (issue 13 item 4, issue 18): a configured
device's worker name is accepted only from the device's address or with its [stratum.workers] credentials;
spoofed and unknown names are refused with a clear error; the suggest_difficulty policy and the limits reach the
server; after a reload the allow-list follows the new device list."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from asicrc.daemon import config as config_mod
from asicrc.daemon import poolsettings, wiring
from asicrc.drivers.clock import Clock
from asicrc.drivers.events import FanOut
from asicrc.drivers.stratum.auth import peer_ip
from asicrc.drivers.stratum.client import StratumClient, StratumError

CONFIG = """
[stratum]
difficulty = 0.001
suggest_difficulty = "floor"
max_connections_per_ip = 40
max_workers_per_connection = 4

[stratum.workers.rig]            # a miner on the LAN, known by address only (TEST-NET: never contacted)
peers = ["192.0.2.10"]

[stratum.workers.bench]
password_file = "{pwfile}"

[[devices]]
id = "lv06"
model = "lv06"
transport = "sim"

[[devices]]
id = "s9-rack1"                  # a real S9 at 192.0.2.50: its worker name is locked to that address
model = "s9"
transport = "rpc"
host = "192.0.2.50"
"""


def load(tmp_path: Path, text: str = CONFIG) -> config_mod.Config:
    pw = tmp_path / "bench.pw"
    pw.write_text("s3cret\n")
    return config_mod.parse(text.format(pwfile=pw), "test.toml")


async def refused(port: int, worker: str, password: str = "x") -> str:
    client = StratumClient("127.0.0.1", port, worker, password=password)
    with pytest.raises(StratumError) as err:
        await client.connect()
    assert err.value.code == 24
    return err.value.message


async def accepted(port: int, worker: str, password: str = "x", **kw: object) -> StratumClient:
    client = StratumClient("127.0.0.1", port, worker, password=password, **kw)
    await client.connect()
    await client.wait_job(timeout_s=5)
    return client


async def test_config_locks_device_workers_to_their_address(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    workers = await poolsettings.pool_workers(cfg.stratum, cfg.devices)
    assert set(workers) == {"rig", "bench", "lv06", "s9-rack1"}
    lan = peer_ip("192.0.2.50")
    assert workers["s9-rack1"].refusal("x", lan) is None and workers["s9-rack1"].refusal("x", peer_ip("::1"))
    assert workers["lv06"].refusal("x", peer_ip("127.0.0.1")) is None  # a simulated device: loopback
    assert workers["bench"].password == "s3cret"

    fanout = FanOut()
    shares = fanout.subscribe(kinds={"share"})
    handle = await wiring.start_stratum(cfg.stratum, fanout, Clock(), devices=cfg.devices)
    server, port = handle.server, handle.address[1]
    try:
        assert server.config.suggest_difficulty == "floor" and server.limits.max_connections_per_ip == 40
        assert server.limits.max_workers_per_connection == 4
        # the attacks: a configured device's name from the wrong address, a LAN miner's name, a guessed password,
        # a name nobody configured
        assert "not allowed from this address" in await refused(port, "s9-rack1")
        assert "not allowed from this address" in await refused(port, "s9-rack1.x")
        assert "not allowed from this address" in await refused(port, "rig")
        assert "wrong password" in await refused(port, "bench", "guess")
        assert "unknown worker" in await refused(port, "stranger")
        assert server.stats["auth_failures"] == 5 and shares.get_nowait_all() == []
        # positive controls: the simulated device from loopback, and the password holder
        miners = [await accepted(port, "lv06"), await accepted(port, "bench", "s3cret", suggest_difficulty=1.0)]
        await asyncio.sleep(0.05)
        assert miners[1].difficulty == 1.0  # floor: a higher suggestion raises the difficulty
        for m in miners:
            await m.close()
        # reload: s9-rack1 becomes a simulated device (loopback), lv06 leaves the config
        new = load(tmp_path, CONFIG.replace('transport = "rpc"\nhost = "192.0.2.50"', 'transport = "sim"'))
        await wiring.refresh_stratum_workers(handle, new.stratum, [d for d in new.devices if d.id != "lv06"])
        await (await accepted(port, "s9-rack1")).close()
        assert "unknown worker" in await refused(port, "lv06")
    finally:
        await handle.stop()


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    for text, needle in (('[stratum.workers.rig]\npeers = ["10.0.0.300"]', "'10.0.0.300' is not an IP"),
                         ('[stratum.workers.rig]\npassword = "a"\npassword_file = "b"', "not both"),
                         ('[stratum.workers.rig]\npassword_file = "/nonexistent/pw"', "does not exist"),
                         ('[stratum]\nsuggest_difficulty = "obey"', "choose from honour, floor, ignore"),
                         ("[stratum]\nmax_connections_per_ip = 0", "stratum.max_connections_per_ip")):
        with pytest.raises(config_mod.ConfigError, match="stratum") as err:
            config_mod.parse(text, "bad.toml")
        assert needle in str(err.value), str(err.value)
