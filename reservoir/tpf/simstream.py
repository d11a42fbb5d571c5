"""A recorded-style event stream from the simulator's physics (asicrc.drivers.sim.Physics), offline and fast.

The live simulator scans real nonces at `hashrate / hash_scale`; here the same physical model is integrated
second by second and shares are drawn as the Poisson process of the modelled good hashrate thinned by the share
difficulty -- what a Stratum server sees from the device. Operating points (frequency, voltage, ambient) change
in random regimes so temperature, voltage and power really vary and really change the share rate.
Output: a list of `Event`s (share + telemetry), timestamps in ns, sorted.
"""

from __future__ import annotations

import numpy as np

from asicrc.drivers.events import Event, Kind, Source
from asicrc.drivers.sim import Physics, sim_params

NS = 1_000_000_000


def generate_events(seed: int = 0, duration_s: float = 4000.0, model: str = "lv06", share_rate_hz: float = 0.25,
                    telemetry_period_s: float = 5.0, regime_s: tuple[float, float] = (60.0, 600.0)) -> list[Event]:
    """Events of one simulated device; `share_rate_hz` sets the share difficulty from the nominal hashrate."""
    spec = sim_params(model)  # ValueError naming the simulated models
    if duration_s <= 0 or share_rate_hz <= 0 or telemetry_period_s <= 0:
        raise ValueError("duration_s, share_rate_hz and telemetry_period_s must be > 0")
    rng = np.random.default_rng([seed, 7])
    device = f"{model}-sim-{seed}"
    phys = Physics(spec, serial=device, seed=seed)
    phys.settle()
    difficulty = phys.hashrate_hs / (share_rate_hz * float(1 << 32))
    events: list[Event] = []
    next_regime = 0.0
    next_tel = 0.0
    t = 0.0
    good_before = phys.good_hashes
    nonce = int(rng.integers(0, 1 << 32))
    while t < duration_s:
        if t >= next_regime:
            # an operator/autotuner moving the operating point: inside +-15% f and +-4% V of nominal
            phys.set_frequency(spec.freq_hz * float(rng.uniform(0.85, 1.15)))
            phys.set_voltage(spec.voltage_v * float(rng.uniform(0.96, 1.04)))
            phys.set_ambient(float(rng.uniform(18.0, 32.0)))
            next_regime = t + float(rng.uniform(*regime_s))
        phys.advance(1.0)
        good = phys.good_hashes - good_before
        good_before = phys.good_hashes
        n_shares = int(rng.poisson(good / (difficulty * float(1 << 32))))
        for off in np.sort(rng.uniform(0.0, 1.0, n_shares)):
            nonce = (nonce + int(rng.integers(1, 1 << 24))) & 0xFFFFFFFF
            events.append(Event(int((t + float(off)) * NS), device, Source.SIM, Kind.SHARE, {
                "job_id": "sim", "assigned_diff": difficulty, "achieved_diff": difficulty / float(rng.uniform(1e-9, 1.0)),
                "nonce": nonce, "version_bits": 0, "verdict": "accepted", "error_code": None, "worker": device,
                "connection": 0}))
        t += 1.0
        if t >= next_tel:
            next_tel = t + telemetry_period_s
            events.append(Event(int(t * NS), device, Source.SIM, Kind.TELEMETRY, {
                "hashrate_hs": phys.hashrate_hs * float(rng.normal(1.0, 0.02)),
                "temp_chip_c": float(np.mean(phys.t_die)) + float(rng.normal(0.0, 0.3)),
                "core_voltage_v": float(np.mean(phys.voltage_v)) + float(rng.normal(0.0, 0.002)),
                "power_w": phys.power_w * float(rng.normal(1.0, 0.01)),
                "frequency_hz": float(np.mean(phys.freq_hz)),
            }))
    events.sort(key=lambda e: e.t_ns)
    return events
