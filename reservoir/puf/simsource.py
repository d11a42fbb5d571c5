"""Run a challenge on a simulated device, in process, and record what a host would observe.

The device is the simulator's physical model (`asicrc.drivers.sim.Physics`): per-chip process variation
is drawn from the serial, so a serial is a stable physical identity; everything else (sensor noise, nonce
arrivals) is drawn per session. Time is simulated directly (no sockets, no wall clock), which is what lets an
evaluation run 20+ devices x several sessions in seconds. What is recorded is what the host sees:

* per chip and step: nonces reported at the ticket difficulty and hardware errors (nonces that fail
  verification), both Poisson counts of the chip's good / bad hash rate (BM1366/BM1387 nonce frames carry the
  chip address);
* per sample: hottest-die and board temperature per chain (sensor noise, quantization, the board sensor's
  calibration offset, as the simulator's firmware reports them), wall power (0.5 % noise), fan RPM (quantized);
* Stratum share arrival times at the pool difficulty (a Poisson process of the accepted hash rate).

Every frequency change passes the model's SafetyEnvelope with the live temperature and settle time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from asicrc.drivers.device import EnvelopeViolation
from asicrc.drivers.seeds import stable_int
from asicrc.drivers.sim import Physics, SimParams, sim_params

from .challenge import Challenge, envelope_for, validate_challenge
from .variation import DEFAULT_VARIATION, SessionState, VariationModel, apply_session_state, session_spec

TWO32 = float(1 << 32)
MEASURE_SUBSTEP_S = 1.0  # integration step while measuring (die time constant ~1 s)


@dataclass(frozen=True)
class Response:
    """Raw observations of one session (one run of one challenge on one device)."""

    model: str
    serial: str
    challenge_digest: str
    ambient_c: float
    cores_per_chip: int
    step_of_sample: npt.NDArray[np.int64]  # (samples,)
    chip_nonces: npt.NDArray[np.int64]  # (steps, chips) valid nonces at the ticket difficulty
    chip_hw_errors: npt.NDArray[np.int64]  # (steps, chips)
    chip_temp_c: npt.NDArray[np.float64]  # (samples, chains) hottest die per chain, as reported
    board_temp_c: npt.NDArray[np.float64]  # (samples, chains)
    power_w: npt.NDArray[np.float64]  # (samples,)
    fan_rpm: npt.NDArray[np.float64]  # (samples, fans)
    share_times_s: npt.NDArray[np.float64]  # (shares,) seconds since the challenge started
    share_step: npt.NDArray[np.int64]  # (shares,)


def sim_spec(model: str) -> SimParams:
    return sim_params(model)  # ValueError naming the simulated models


def _quantize(x: npt.NDArray[np.float64], q: float) -> npt.NDArray[np.float64]:
    return np.round(x / q) * q if q > 0 else x


def run_challenge(serial: str, challenge: Challenge, session_seed: int, ambient_c: float = 25.0,
                  state: SessionState | None = None, variation: VariationModel = DEFAULT_VARIATION) -> Response:
    """Measure one session of `challenge` on the simulated device with this serial; `state` says what happened
    to the device since enrolment (ageing, remounts, fan replacements: `variation.SessionState`)."""
    validate_challenge(challenge)
    state = state or SessionState()
    spec = session_spec(sim_spec(challenge.model), serial, state, variation)
    env = envelope_for(challenge.model)
    device_id = f"sim-{challenge.model}-{serial}"
    rng = np.random.default_rng([int(session_seed) & 0xFFFFFFFF, stable_int(serial) & 0xFFFFFFFF, 0x50F])
    spec = dataclasses.replace(spec, max_substep_s=min(MEASURE_SUBSTEP_S, challenge.sample_s))
    phys = Physics(spec, serial, seed=session_seed, ambient_c=ambient_c, start_warm=False)
    apply_session_state(phys, state, variation)
    phys.set_fan(challenge.fan_percent)
    current_mhz = spec.freq_hz / 1e6
    first = challenge.steps[0].frequency_mhz
    env.check(device_id, "frequency_mhz", first, current=current_mhz, since_last_change_s=None, temperature_c=None)
    phys.set_frequency(first * 1e6)
    current_mhz = first
    # warm-up at the first step's settings: jump to the thermal steady state (what warmup_s of running reaches)
    phys.settle()

    n_chips, chains, fans = phys.n_chips, spec.chains, spec.fans
    dt = challenge.sample_s
    steps_of: list[int] = []
    chip_t: list[npt.NDArray[np.float64]] = []
    board_t: list[npt.NDArray[np.float64]] = []
    power: list[float] = []
    rpm: list[npt.NDArray[np.float64]] = []
    nonces = np.zeros((len(challenge.steps), n_chips), dtype=np.int64)
    hw = np.zeros((len(challenge.steps), n_chips), dtype=np.int64)
    share_t: list[npt.NDArray[np.float64]] = []
    share_s: list[npt.NDArray[np.int64]] = []
    t = 0.0
    since_change = challenge.warmup_s
    hottest = float(phys.t_die.max())
    for j, step in enumerate(challenge.steps):
        if step.frequency_mhz != current_mhz:
            env.check(device_id, "frequency_mhz", step.frequency_mhz, current=current_mhz,
                      since_last_change_s=since_change, temperature_c=hottest)
            phys.set_frequency(step.frequency_mhz * 1e6)
            current_mhz = step.frequency_mhz
            since_change = 0.0
        for _ in range(max(1, round(step.duration_s / dt))):
            raw = phys.chip_raw_hashrate_hs()
            err = phys.error_rate()
            phys.advance(dt)
            good, bad = raw * (1.0 - err), raw * err
            nonces[j] += rng.poisson(good * dt / (TWO32 * step.ticket_difficulty))
            hw[j] += rng.poisson(bad * dt / (TWO32 * step.ticket_difficulty))
            k = int(rng.poisson(float(good.sum()) * dt / (TWO32 * step.pool_difficulty)))
            if k:
                share_t.append(np.sort(t + dt * rng.random(k)))
                share_s.append(np.full(k, j, dtype=np.int64))
            die = phys.chain_die_max_c()
            chip_reading = _quantize(die + rng.normal(0.0, spec.temp_noise_c, chains), spec.temp_quantum_c)
            board = phys.t_board + phys.var.sensor_offset_c
            board_reading = _quantize(board + rng.normal(0.0, spec.temp_noise_c, chains), spec.temp_quantum_c)
            rpm_reading = _quantize(phys.fan_rpm * (1.0 + rng.normal(0.0, 0.005, fans)), spec.rpm_quantum)
            steps_of.append(j)
            chip_t.append(chip_reading)
            board_t.append(board_reading)
            power.append(phys.power_w * (1.0 + float(rng.normal(0.0, 0.005))))
            rpm.append(rpm_reading)
            hottest = float(chip_reading.max())
            if hottest >= env.thermal_stop_c:  # never keep a challenge running on a device at its stop limit
                raise EnvelopeViolation(device_id, "frequency_mhz", current_mhz,
                                        f"challenge aborted: chip at {hottest:.1f} C >= thermal stop "
                                        f"{env.thermal_stop_c:g} C")
            t += dt
            since_change += dt
    return Response(
        model=challenge.model,
        serial=serial,
        challenge_digest=challenge.digest,
        ambient_c=float(ambient_c),
        cores_per_chip=spec.cores_per_chip,
        step_of_sample=np.asarray(steps_of, dtype=np.int64),
        chip_nonces=nonces,
        chip_hw_errors=hw,
        chip_temp_c=np.asarray(chip_t, dtype=np.float64).reshape(-1, chains),
        board_temp_c=np.asarray(board_t, dtype=np.float64).reshape(-1, chains),
        power_w=np.asarray(power, dtype=np.float64),
        fan_rpm=np.asarray(rpm, dtype=np.float64).reshape(-1, fans),
        share_times_s=np.concatenate(share_t) if share_t else np.zeros(0),
        share_step=np.concatenate(share_s) if share_s else np.zeros(0, dtype=np.int64),
    )
