"""SimParams, the per-model constants of the simulator's physics and firmware: chip counts, electrical and thermal parameters, API periods.

Numbers are order-of-magnitude fits to public figures (S9 ~13.5 TH/s at ~1.3 kW with 3 x 63 BM1387; LV06
~500 GH/s at ~13 W with one BM1366 at 485 MHz / 1.2 V; chip temps 60-80 degC). The LB-Box internals are not
public (protocols.md section 3): its chip count and cores are invented so that it gives ~175 GH/s at ~100 W.
Everything is in SI units: Hz, V, W, K/W, J/K, s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class SimParams:
    name: str  # the model (asicrc.drivers.registry); a model's simulator class names its SimParams
    chip: str  # "BM1387", "BM1366", "LBRY-ASIC"
    chains: int
    chips_per_chain: int
    cores_per_chip: int  # hashes per clock per chip (BM1366: 894 small cores, BM1387: 114 cores)
    freq_hz: float  # default PLL frequency
    voltage_v: float  # default core voltage per chip
    # electrical: P_dyn = c_dyn f V^2 ; P_leak = V I_leak exp((T_die - 25)/leak_temp_k)
    c_dyn_f: float  # farads (effective switched capacitance per chip)
    i_leak_a: float  # leakage current per chip at 25 degC
    leak_temp_k: float
    overhead_w: float  # controller, regulators' fixed loss
    psu_efficiency: float
    # hardware errors: logistic in (V_min(f) - V), plus a steep thermal term
    v_th_v: float  # V_min(f) = v_th + k_fv * f
    k_fv: float  # V per Hz
    v_sigma_v: float  # per-chip spread of v_th (process variation)
    err_v_scale_v: float  # width of the logistic
    err_floor: float
    t_crit_c: float
    err_t_scale_k: float
    # thermal network (per chip / per chain); conductances in W/K
    c_die: float
    r_die_board: float  # per chip
    c_board: float  # per chain
    r_board_sink: float  # per chain
    c_sink: float  # per chain
    r_sink_air_full: float  # per chain at full fan
    r_sink_air_still: float  # per chain, fans stopped (natural convection)
    # fans
    fans: int
    fan_max_rpm: float
    fan_tau_s: float
    fan_min_percent: float
    fan_target_c: float  # auto-fan target (hottest chip)
    fan_w_full: float  # electrical power of all fans at 100 %
    rpm_quantum: float  # reported RPM resolution
    # sensors and firmware periods
    temp_quantum_c: float
    temp_noise_c: float
    api_refresh_s: float  # how often the firmware refreshes the values its API returns
    share_poll_s: float  # firmware collects nonces and submits them in bursts at this period (0: at once)
    reboot_s: float  # restart gap during which the management API is unreachable
    max_substep_s: float = 0.25
    # junction-temperature limit: a chip at or above it stops hashing and loses its core power (the regulator /
    # host trips it long before silicon would fail); it restarts once cooled by the hysteresis. This is what keeps
    # the die temperature bounded whatever the cooling: leakage rises exponentially with T and would run away.
    t_shutdown_c: float = 125.0
    shutdown_hysteresis_k: float = 25.0


S9 = SimParams(
    name="s9", chip="BM1387", chains=3, chips_per_chain=63, cores_per_chip=114,
    freq_hz=650e6, voltage_v=0.42,
    c_dyn_f=4.9e-8, i_leak_a=0.32, leak_temp_k=30.0, overhead_w=40.0, psu_efficiency=0.93,
    v_th_v=0.16, k_fv=0.35e-9, v_sigma_v=0.004, err_v_scale_v=0.005, err_floor=2e-5,
    t_crit_c=112.0, err_t_scale_k=3.0,
    c_die=0.45, r_die_board=2.2, c_board=400.0, r_board_sink=0.025, c_sink=1800.0,
    r_sink_air_full=0.045, r_sink_air_still=0.6,
    fans=2, fan_max_rpm=6000.0, fan_tau_s=2.0, fan_min_percent=30.0, fan_target_c=75.0, fan_w_full=60.0,
    rpm_quantum=60.0, temp_quantum_c=1.0, temp_noise_c=0.3, api_refresh_s=5.0, share_poll_s=0.02, reboot_s=60.0,
)

LV06 = SimParams(
    name="lv06", chip="BM1366", chains=1, chips_per_chain=1, cores_per_chip=894,
    freq_hz=485e6, voltage_v=1.2,
    c_dyn_f=1.43e-8, i_leak_a=0.26, leak_temp_k=30.0, overhead_w=1.5, psu_efficiency=0.88,
    v_th_v=0.81, k_fv=0.6e-9, v_sigma_v=0.012, err_v_scale_v=0.012, err_floor=2e-5,
    t_crit_c=110.0, err_t_scale_k=3.0,
    c_die=0.5, r_die_board=1.0, c_board=30.0, r_board_sink=0.5, c_sink=80.0,
    r_sink_air_full=0.8, r_sink_air_still=12.0,
    fans=1, fan_max_rpm=5200.0, fan_tau_s=1.5, fan_min_percent=20.0, fan_target_c=60.0, fan_w_full=1.2,
    rpm_quantum=1.0, temp_quantum_c=0.0625, temp_noise_c=0.2, api_refresh_s=2.0, share_poll_s=0.0, reboot_s=8.0,
)

LBBOX = SimParams(
    name="lbbox", chip="LBRY-ASIC", chains=1, chips_per_chain=8, cores_per_chip=44,
    freq_hz=500e6, voltage_v=0.8,
    c_dyn_f=3.1e-8, i_leak_a=0.4, leak_temp_k=30.0, overhead_w=8.0, psu_efficiency=0.9,
    v_th_v=0.45, k_fv=0.5e-9, v_sigma_v=0.008, err_v_scale_v=0.01, err_floor=2e-5,
    t_crit_c=110.0, err_t_scale_k=3.0,
    c_die=0.45, r_die_board=1.6, c_board=60.0, r_board_sink=0.08, c_sink=300.0,
    r_sink_air_full=0.25, r_sink_air_still=3.0,
    fans=2, fan_max_rpm=4500.0, fan_tau_s=2.0, fan_min_percent=25.0, fan_target_c=70.0, fan_w_full=8.0,
    rpm_quantum=30.0, temp_quantum_c=1.0, temp_noise_c=0.3, api_refresh_s=5.0, share_poll_s=0.02, reboot_s=30.0,
)

# Simulation-only controls of the reservoir experiments (drivers/sim/planted.py): stock LV06 hardware, their own
# names (the registry's models `planted` and `inert`; the name also seeds their chips' process variation).
PLANTED = replace(LV06, name="planted")
INERT = replace(LV06, name="inert")

# Bench chains behind a UART: a Bitaxe-like single BM1366 and a BM1387 hashboard/stick.
BM1366_CHAIN = replace(LV06, name="bm1366-uart", share_poll_s=0.0)
BM1387_CHAIN = replace(
    S9, name="bm1387-uart", chains=1, chips_per_chain=2, share_poll_s=0.0,
    # a 2-chip stick on a small heatsink (chain_spec scales the copper for other chip counts)
    c_board=20.0, r_board_sink=0.5, c_sink=60.0, r_sink_air_full=2.0, r_sink_air_still=12.0, fans=1, fan_w_full=1.0,
)


def chain_spec(base: SimParams, chips: int) -> SimParams:
    """``base`` resized to ``chips`` chips on its (single) chain, with the chain's copper scaled in proportion.

    Board and heatsink heat capacity, board-to-sink and sink-to-air conductance (and the fans that blow over the
    larger fin area) all grow with the chip count: a chain of N chips is N chips' worth of the base design's
    cooling, so every chip sits at the same steady temperature as in the base design instead of N chips sharing
    one small heatsink and running away.
    """
    if chips < 1:
        raise ValueError(f"chips must be >= 1, got {chips}")
    k = chips / base.chips_per_chain
    return replace(base, chips_per_chain=chips, c_board=base.c_board * k, r_board_sink=base.r_board_sink / k,
                   c_sink=base.c_sink * k, r_sink_air_full=base.r_sink_air_full / k,
                   r_sink_air_still=base.r_sink_air_still / k, fan_w_full=base.fan_w_full * k)

