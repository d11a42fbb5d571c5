"""The model registry: every device model asicrc knows, in one table that every other place reads.

Per model: chip count, safety envelope, default ports, what each transport can change (the declarative data the
drivers run on), how the host reaches it (network API + Stratum, or a UART chain), which pool flavour it mines
on, and where its host driver and its simulator are. The daemon config's ``model`` type (``ModelName``),
DeviceSpec validation, the device factory, the simulator (which class, which physical parameters), the rig
assembler, the experiments and the benches all read this table; adding a model means one entry here (plus the
driver and simulator classes it names).

Limits come from the vendors' stock settings and the public firmware (ESP-Miner frequency/voltage option lists for
the BM1366, bmminer/braiins frequency tables for the BM1387); they are conservative on purpose: an experiment that
needs more must change this table in review, not at run time.

Drivers and simulators are reached through small typed functions with function-level imports: a network-only
daemon never imports the serial stack, and looking up an envelope (config validation) imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from asicrc.drivers.usererror import UserError

from .device import Device, Range, SafetyEnvelope

if TYPE_CHECKING:
    from .clock import Clock
    from .events import FanOut
    from .models.device_spec import DeviceSpec
    from .sim.miner_base import SimMiner
    from .sim.params import SimParams
    from .sim.serial_chain import SerialChainSim
    from .stratum.router import ShareRouter

# The model names, once: a Literal so that the daemon config (msgspec) and mypy check them. MODELS below is keyed
# by exactly these (tests/drivers/test_registry.py).
ModelName = Literal["s9", "lv06", "lbbox", "bm1366-uart", "bm1387-uart", "planted", "inert"]
MODEL_NAMES: tuple[ModelName, ...] = get_args(ModelName)

Link = Literal["network", "uart"]  # management API + Stratum over TCP, or the chips' UART directly
PoolFlavour = Literal["bitcoin", "lbry"]  # the Stratum variant a network model mines on
DriverFactory = Callable[["DeviceSpec", "ModelData", "FanOut", "Clock", "ShareRouter | None"], Device]


class UnknownModel(UserError, ValueError):
    """A model name that is not in the registry; the message lists the known ones."""



@dataclass(slots=True, frozen=True)
class ModelData:
    model: ModelName
    display_name: str
    chips: int  # chips on a complete stock unit (0 = enumerated at start)
    envelope: SafetyEnvelope
    settable: frozenset[str]  # settings the model's transport can change (others raise ActuationUnsupported)
    link: Link
    make_driver: DriverFactory  # the host driver (a Device) for a DeviceSpec of this model
    primary_port: Literal["http", "rpc"] | None = None  # what a DeviceSpec's `port` means (network models)
    pool: PoolFlavour = "bitcoin"
    simulator: Callable[[], type[SimMiner]] | None = None  # the simulated miner of a network model
    chain_simulator: Callable[[], type[SerialChainSim]] | None = None  # the simulated chain of a UART model
    http_port: int = 80
    rpc_port: int = 4028
    restart_supported: bool = True

    @property
    def simulated(self) -> bool:
        """A simulated miner that mines over Stratum and serves the management API exists for this model."""
        return self.simulator is not None

    def sim_params(self) -> SimParams:
        """The simulator's physical and firmware parameters of this model (drivers/sim/params.py)."""
        if self.simulator is not None:
            return self.simulator().spec
        if self.chain_simulator is not None:
            return self.chain_simulator().base_spec
        raise UnknownModel(f"model {self.model!r} has no simulator")

    def sim_class(self) -> type[SimMiner]:
        if self.simulator is None:
            raise UnknownModel(f"no simulated network miner for model {self.model!r} "
                               f"(choose from {', '.join(simulated_models())})")
        return self.simulator()


# ---- host drivers and simulators (function-level imports: loaded only for a model in use) -------------------
def _s9_driver(spec: DeviceSpec, data: ModelData, fanout: FanOut, clock: Clock,
               router: ShareRouter | None) -> Device:
    from .models.s9 import S9Device

    return S9Device(spec, data, fanout=fanout, clock=clock, stratum_server=router)


def _lv06_driver(spec: DeviceSpec, data: ModelData, fanout: FanOut, clock: Clock,
                 router: ShareRouter | None) -> Device:
    from .models.lv06 import LV06Device

    return LV06Device(spec, data, fanout=fanout, clock=clock, stratum_server=router)


def _lbbox_driver(spec: DeviceSpec, data: ModelData, fanout: FanOut, clock: Clock,
                  router: ShareRouter | None) -> Device:
    from .models.lbbox import LBBoxDevice

    return LBBoxDevice(spec, data, fanout=fanout, clock=clock, stratum_server=router)


def _uart_driver(spec: DeviceSpec, data: ModelData, fanout: FanOut, clock: Clock,
                 router: ShareRouter | None) -> Device:
    from .models.uart import UartChainDevice

    return UartChainDevice(spec, data, fanout=fanout, clock=clock)  # a chain's shares are its own nonces


def _sim_s9() -> type[SimMiner]:
    from .sim.s9 import SimS9

    return SimS9


def _sim_lv06() -> type[SimMiner]:
    from .sim.lv06 import SimLV06

    return SimLV06


def _sim_lbbox() -> type[SimMiner]:
    from .sim.lbbox import SimLBBox

    return SimLBBox


def _sim_planted() -> type[SimMiner]:
    from .sim.planted import SimPlantedLV06

    return SimPlantedLV06


def _sim_inert() -> type[SimMiner]:
    from .sim.planted import SimInertLV06

    return SimInertLV06


def _sim_bm1366_chain() -> type[SerialChainSim]:
    from .sim.serial_chain import SimBM1366Chain

    return SimBM1366Chain


def _sim_bm1387_chain() -> type[SerialChainSim]:
    from .sim.serial_chain import SimBM1387Chain

    return SimBM1387Chain


# BM1366 (LV06, Bitaxe Ultra): ESP-Miner's option lists are 400..575 MHz and 1100..1300 mV; ESP-Miner itself
# enters overheat mode near 70 C chip temperature.
BM1366_ENVELOPE = SafetyEnvelope(
    frequency_mhz=Range(low=400.0, high=575.0, max_step=50.0, settle_s=10.0),
    core_voltage_mv=Range(low=1100.0, high=1300.0, max_step=50.0, settle_s=10.0),
    fan_percent=Range(low=20.0, high=100.0, max_step=100.0, settle_s=1.0),
    thermal_throttle_c=65.0,
    thermal_stop_c=72.0,
)

# BM1387 (S9): stock 550-650 MHz; braiins tables reach ~700 MHz. Chip temperatures (temp2_*) ~ 75-80 C in normal
# running; bmminer shuts down near 95 C.
BM1387_ENVELOPE = SafetyEnvelope(
    frequency_mhz=Range(low=100.0, high=700.0, max_step=50.0, settle_s=10.0),
    core_voltage_mv=Range(low=350.0, high=450.0, max_step=10.0, settle_s=10.0),  # per-chip domain (chain ~8.6 V/21)
    fan_percent=Range(low=30.0, high=100.0, max_step=100.0, settle_s=1.0),
    thermal_throttle_c=85.0,
    thermal_stop_c=95.0,
)

# LB-Box: vendor power plans only; no public chip data. Thermal limits as for other 16 nm-class boards (its stock
# fan curve holds the chips near 75 C at full load), unverified on a real unit.
LBBOX_ENVELOPE = SafetyEnvelope(
    frequency_mhz=Range(low=100.0, high=800.0, max_step=100.0, settle_s=10.0),
    core_voltage_mv=Range(low=0.0, high=0.0, max_step=0.0, settle_s=0.0),
    fan_percent=Range(low=20.0, high=100.0, max_step=100.0, settle_s=1.0),
    thermal_throttle_c=85.0,
    thermal_stop_c=95.0,
)

_ENTRIES = (
    ModelData(
        model="s9", display_name="Antminer S9", chips=189, envelope=BM1387_ENVELOPE,
        # Stock bmminer exposes only read commands on 4028 (api-groups A:stats:pools:devs:summary:version).
        settable=frozenset({"difficulty"}), restart_supported=False,
        link="network", primary_port="rpc", make_driver=_s9_driver, simulator=_sim_s9,
    ),
    ModelData(
        model="lv06", display_name="Lucky Miner LV06", chips=1, envelope=BM1366_ENVELOPE,
        settable=frozenset({"frequency_mhz", "core_voltage_mv", "fan_percent", "difficulty"}),
        link="network", primary_port="http", make_driver=_lv06_driver, simulator=_sim_lv06,
    ),
    ModelData(
        model="lbbox", display_name="Goldshell LB-Box", chips=0, envelope=LBBOX_ENVELOPE,
        settable=frozenset({"frequency_mhz", "fan_percent", "difficulty"}),
        link="network", primary_port="http", pool="lbry", make_driver=_lbbox_driver, simulator=_sim_lbbox,
    ),
    ModelData(
        model="bm1366-uart", display_name="BM1366 chain (UART)", chips=0, envelope=BM1366_ENVELOPE,
        # Core voltage and fan sit on board regulators/controllers, not on the UART.
        settable=frozenset({"frequency_mhz", "difficulty"}),
        link="uart", make_driver=_uart_driver, chain_simulator=_sim_bm1366_chain,
    ),
    ModelData(
        model="bm1387-uart", display_name="BM1387 chain (UART)", chips=0, envelope=BM1387_ENVELOPE,
        settable=frozenset({"frequency_mhz", "difficulty"}),
        link="uart", make_driver=_uart_driver, chain_simulator=_sim_bm1387_chain,
    ),
    # Simulation-only controls for the reservoir experiments (drivers/sim/planted.py): LV06 hardware and AxeOS API,
    # driven by the LV06 host driver. `planted`: its sensors carry a software reservoir driven by its actuation
    # inputs (a device that adds information); `inert`: its physics ignore the input (one that cannot).
    ModelData(
        model="planted", display_name="LV06 with a planted reservoir (simulation only)", chips=1,
        envelope=BM1366_ENVELOPE, settable=frozenset({"frequency_mhz", "core_voltage_mv", "fan_percent", "difficulty"}),
        link="network", primary_port="http", make_driver=_lv06_driver, simulator=_sim_planted,
    ),
    ModelData(
        model="inert", display_name="LV06 whose physics ignore the input (simulation only)", chips=1,
        envelope=BM1366_ENVELOPE, settable=frozenset({"frequency_mhz", "core_voltage_mv", "fan_percent", "difficulty"}),
        link="network", primary_port="http", make_driver=_lv06_driver, simulator=_sim_inert,
    ),
)

MODELS: dict[str, ModelData] = {m.model: m for m in _ENTRIES}


def model_data(name: str) -> ModelData:
    """The registry entry of `name`; UnknownModel (a ValueError) naming the known models otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r} (choose from {', '.join(MODELS)})") from None


def simulated_models(pool: PoolFlavour | None = None) -> tuple[str, ...]:
    """Models with a simulated network miner (optionally: mining on this pool flavour), in registry order."""
    return tuple(m.model for m in _ENTRIES if m.simulated and (pool is None or m.pool == pool))


def uart_models() -> tuple[str, ...]:
    return tuple(m.model for m in _ENTRIES if m.link == "uart")
