"""Simulated mining ASICs that speak the real wire protocols, over a deterministic physical model.

Public API (everything runs on 127.0.0.1 only, on free ports; all time is on one shared ``Clock``)::

    from asicrc.drivers.clock import Clock
    from asicrc.drivers.sim import SimS9, SimLV06, SimLBBox, SimFleet, SimBM1366Chain, SimBM1387Chain, Fault

    clock = Clock(speed=10.0)                      # simulated time 10x wall time
    dev = SimLV06(serial="LV06-0001", seed=1, clock=clock, stratum=("127.0.0.1", 3333), ambient_c=25.0)
    await dev.start()                              # returns once its API servers listen
    dev.ports                                      # {"http": 40123}  (S9: {"rpc": ...}; LB-Box: {"http", "rpc"})
    dev.physics                                    # live physical state (asicrc.drivers.sim.physics.Physics)
    dev.physics.hashrate_hs                        # true hashrate (H/s) = f x cores x chips x (1 - err)
    dev.fanout.subscribe()                         # sim-side Events: share (as submitted + verdict), telemetry, fault
    dev.inject(Fault.http_500(count=3))            # see asicrc.drivers.sim.faults
    await dev.stop()

    fleet = SimFleet.from_counts(s9=3, lv06=3, lbbox=1, clock=clock, stratum=("127.0.0.1", 3333), seed=7)
    await fleet.start(); fleet.ports(); await fleet.stop()

    chain = SimBM1366Chain(serial="bitaxe-1", seed=1, clock=clock, chips=1)
    await chain.start(); chain.port_path            # a pty path the host driver opens (115200 8N1, later 1 Mbaud)

Shares are real: the simulator scans nonces with the C sha256d for the jobs it receives at
``hashrate_hs / hash_scale`` hashes per simulated second, so the share stream is the Poisson process of the
modeled hashrate thinned by the pool difficulty, and every submitted share meets the assigned difficulty.
``dev.hash_scale`` is published so consumers can convert share rates back to the modeled hashrate.

The reference CPU miner of tests and benches is here too (``find_shares``, ``CpuMiner``: real sha256d on a
``StratumClient``), since it plays the miner's side of the wire.
"""

from __future__ import annotations

from .cpuminer import CpuMiner, Share, find_shares
from .devices import SimFleet, model_class, sim_params
from .faults import Fault, FaultKind
from .lbbox import SimLBBox
from .lv06 import SimLV06
from .miner_base import SimMiner
from .params import BM1366_CHAIN, BM1387_CHAIN, LBBOX, LV06, S9, SimParams
from .physics import Physics
from .s9 import SimS9
from .serial_chain import SerialChainSim, SimBM1366Chain, SimBM1387Chain

__all__ = [
    "BM1366_CHAIN",
    "BM1387_CHAIN",
    "LBBOX",
    "LV06",
    "S9",
    "CpuMiner",
    "Fault",
    "FaultKind",
    "Physics",
    "SerialChainSim",
    "Share",
    "SimBM1366Chain",
    "SimBM1387Chain",
    "SimFleet",
    "SimLBBox",
    "SimLV06",
    "SimMiner",
    "SimParams",
    "SimS9",
    "find_shares",
    "model_class",
    "sim_params",
]
