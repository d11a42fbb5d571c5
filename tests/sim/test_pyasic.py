"""pyasic (a real, widely used miner-management client) reads the simulated S9 (4028), LV06 (AxeOS HTTP) and
LB-Box (Goldshell web API + 4028)."""

from __future__ import annotations

import asyncio

import pytest
from pyasic.config import MinerConfig
from pyasic.device.algorithm import MinerAlgo
from pyasic.device.models import MinerModelType
from pyasic.errors import APIError
from pyasic.miners.antminer.bmminer.X9.S9 import BMMinerS9
from pyasic.miners.backends import GoldshellMiner
from pyasic.miners.backends.luckyminer import LuckyMiner
from pyasic.miners.data import DataOptions
from pyasic.miners.device.makes import GoldshellMake, LuckyMinerMake

from asicrc.drivers.api.goldshell import GoldshellClient
from asicrc.drivers.clock import Clock
from asicrc.drivers.sim import SimLBBox, SimLV06, SimS9


class _LV06Model(MinerModelType):
    LV06 = "LV06"

    def __str__(self) -> str:
        return str(self.value)


class _LV06(LuckyMinerMake):
    # pyasic 0.79 knows LV07/LV08 only; this mirrors its LV07 definition for the single-BM1366 LV06
    raw_model = _LV06Model.LV06
    expected_hashboards = 1
    expected_chips = 1
    expected_fans = 1
    algo = MinerAlgo.SHA256


class LuckyMinerLV06(LuckyMiner, _LV06):
    pass


class _LBBoxModel(MinerModelType):
    LBBox = "LB-Box"

    def __str__(self) -> str:
        return str(self.value)


class _LBBox(GoldshellMake):
    # pyasic 0.79 has no LB-Box; the Box models (KD Box II) share its web API and 4028 backend
    raw_model = _LBBoxModel.LBBox
    expected_hashboards = 1
    expected_chips = 8
    expected_fans = 1
    algo = MinerAlgo.SHA256


class GoldshellLBBox(GoldshellMiner, _LBBox):
    pass


async def wait_uptime(dev: SimS9 | SimLV06, seconds: float) -> None:
    for _ in range(200):
        if dev.snapshot.uptime_s >= seconds:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"snapshot uptime stayed below {seconds}s")


async def test_pyasic_reads_the_simulated_s9_over_4028() -> None:
    dev = SimS9(serial="S9-PYASIC", seed=5, clock=Clock(20.0))
    await dev.start()
    try:
        await wait_uptime(dev, 6.0)
        miner = BMMinerS9("127.0.0.1")
        miner.rpc.port = dev.ports["rpc"]
        data = await miner.get_data()
        phys = dev.physics
    finally:
        await dev.stop()
    assert str(data.model) == "S9"
    assert data.hashrate is not None
    true_ths = phys.hashrate_hs / 1e12
    assert float(data.hashrate) == pytest.approx(true_ths, rel=0.05)  # >= 16k diff-1 nonces counted: ~1 % noise
    assert len(data.hashboards) == 3
    die_max = phys.chain_die_max_c()
    for k, board in enumerate(data.hashboards):
        assert board.chips == 63
        # bmminer temp{i} is the PCB sensor, temp2_{i} the chip (pyasic names them the other way round)
        assert board.chip_temp == pytest.approx(phys.t_board[k] + phys.var.sensor_offset_c[k], abs=2.5)
        assert board.temp == pytest.approx(die_max[k], abs=2.5)
        assert float(board.hashrate) == pytest.approx(phys.chain_hashrate_hs()[k] / 1e12, rel=0.08)
    assert [f.speed for f in data.fans] == pytest.approx(list(phys.fan_rpm), rel=0.05)
    assert all(f.speed and f.speed > 1000 for f in data.fans)


async def test_pyasic_reads_the_simulated_lv06_over_http() -> None:
    dev = SimLV06(serial="LV06-PYASIC", seed=6, clock=Clock(20.0))
    await dev.start()
    try:
        await wait_uptime(dev, 6.0)
        miner = LuckyMinerLV06("127.0.0.1")
        miner.web.port = dev.ports["http"]
        data = await miner.get_data()
        phys = dev.physics
    finally:
        await dev.stop()
    assert str(data.model) == "LV06"
    assert data.hashrate is not None
    # 5 s of diff-1 nonces at ~430 GH/s is ~500 counts: allow 5 sigma of Poisson noise
    assert float(data.hashrate) * 1e12 == pytest.approx(phys.hashrate_hs, rel=0.23)
    assert float(data.expected_hashrate) * 1e12 == pytest.approx(phys.expected_hashrate_hs, rel=1e-3)
    board = data.hashboards[0]
    assert board.chip_temp == pytest.approx(float(phys.t_die.mean()), abs=1.5)
    assert board.temp == pytest.approx(float(phys.t_board.mean()) + 6.0, abs=2.0)  # vrTemp
    assert data.fans[0].speed == pytest.approx(float(phys.fan_rpm[0]), rel=0.05)
    assert data.wattage == pytest.approx(phys.power_w, abs=1.5)


async def test_pyasic_reads_the_simulated_lbbox_and_the_firmwares_pool_list() -> None:
    dev = SimLBBox(serial="LB-PYASIC", seed=7, clock=Clock(20.0), stratum=("127.0.0.1", 3333))
    await dev.start()
    try:
        await wait_uptime(dev, 3.0)
        miner = GoldshellLBBox("127.0.0.1")
        miner.rpc.port = dev.ports["rpc"]
        miner.web.port = dev.ports["http"]
        data = await miner.get_data(exclude=[DataOptions.CONFIG])
        raw_pools = await miner.web.pools()
        # pyasic's get_config assumes {"pools": [...]}; Box firmware answers a bare array (parse_pools docstring)
        with pytest.raises((APIError, TypeError)):
            await miner.get_data(include=[DataOptions.CONFIG])
        ours = GoldshellClient("127.0.0.1", dev.ports["http"])
        try:
            pools = await ours.pools()
        finally:
            await ours.close()
        phys = dev.physics
    finally:
        await dev.stop()
    assert data.mac and data.fw_ver == "2.2.5"
    assert data.hashrate is not None and float(data.hashrate) * 1e12 == pytest.approx(phys.hashrate_hs, rel=0.3)
    assert data.hashboards[0].chips == dev.spec.chips_per_chain and data.hashboards[0].temp is not None
    assert isinstance(raw_pools, list) and set(raw_pools[0]) == {"url", "legal", "active", "dragid", "user",
                                                                 "pool-priority", "pass"}
    # pyasic's own list reader (the one its send_config relies on) and ours agree on the array
    (group,) = MinerConfig.from_goldshell_list(raw_pools).pools.groups
    assert [p.url for p in group.pools] == [p.url for p in pools] == ["stratum+tcp://127.0.0.1:3333"]
    assert pools[0].user == group.pools[0].user and pools[0].priority == 0
