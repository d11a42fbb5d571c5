"""Per-model declarative data: chip counts, safety envelopes, default ports, what each transport can change.

Limits come from the vendors' stock settings and the public firmware (ESP-Miner frequency/voltage option lists for
the BM1366, bmminer/braiins frequency tables for the BM1387); they are conservative on purpose: an experiment that
needs more must change this table in review, not at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..device import Range, SafetyEnvelope


@dataclass(slots=True, frozen=True)
class ModelData:
    model: str
    display_name: str
    chips: int  # chips on a complete stock unit (0 = enumerated at start)
    envelope: SafetyEnvelope
    settable: frozenset[str]  # settings the model's transport can change (others raise ActuationUnsupported)
    http_port: int = 80
    rpc_port: int = 4028
    restart_supported: bool = True


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

MODELS: dict[str, ModelData] = {
    "s9": ModelData(
        model="s9", display_name="Antminer S9", chips=189, envelope=BM1387_ENVELOPE,
        # Stock bmminer exposes only read commands on 4028 (api-groups A:stats:pools:devs:summary:version).
        settable=frozenset({"difficulty"}), restart_supported=False,
    ),
    "lv06": ModelData(
        model="lv06", display_name="Lucky Miner LV06", chips=1, envelope=BM1366_ENVELOPE,
        settable=frozenset({"frequency_mhz", "core_voltage_mv", "fan_percent", "difficulty"}),
    ),
    "lbbox": ModelData(
        model="lbbox", display_name="Goldshell LB-Box", chips=0, envelope=LBBOX_ENVELOPE,
        settable=frozenset({"frequency_mhz", "fan_percent", "difficulty"}),
    ),
    "bm1366-uart": ModelData(
        model="bm1366-uart", display_name="BM1366 chain (UART)", chips=0, envelope=BM1366_ENVELOPE,
        # Core voltage and fan sit on board regulators/controllers, not on the UART.
        settable=frozenset({"frequency_mhz", "difficulty"}),
    ),
    "bm1387-uart": ModelData(
        model="bm1387-uart", display_name="BM1387 chain (UART)", chips=0, envelope=BM1387_ENVELOPE,
        settable=frozenset({"frequency_mhz", "difficulty"}),
    ),
}
