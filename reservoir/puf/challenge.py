"""The PUF challenge: a fixed schedule of frequency steps and ticket difficulties, checked against the envelope.

A challenge is data (it is stored with every enrolment and its digest must match at verification). Every
frequency step is checked against the model's `SafetyEnvelope` (the model registry, drivers/registry.py) before
the schedule is accepted, and again at run time with the live temperature and settle time (`simsource.run_challenge`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from asicrc.drivers.device import EnvelopeViolation, SafetyEnvelope
from asicrc.drivers.registry import MODELS as MODEL_DATA

PUF_MODELS = ("lv06", "s9", "lbbox")


@dataclass(frozen=True, slots=True)
class Step:
    frequency_mhz: float
    duration_s: float
    ticket_difficulty: float  # nonces reported by the chips are counted at this difficulty
    pool_difficulty: float  # share difficulty of the Stratum stream (timing statistics)


@dataclass(frozen=True, slots=True)
class Challenge:
    model: str
    steps: tuple[Step, ...]
    fan_percent: float  # fixed during the challenge, so the thermal response is the device's, not the fan loop's
    sample_s: float = 1.0  # telemetry sampling period
    warmup_s: float = 1200.0  # at the first step's settings before measuring

    def to_dict(self) -> dict[str, Any]:
        """Canonical form (numbers as floats), so the digest does not depend on how a number was written."""
        return {"model": self.model, "fan_percent": float(self.fan_percent), "sample_s": float(self.sample_s),
                "warmup_s": float(self.warmup_s),
                "steps": [{k: float(v) for k, v in asdict(s).items()} for s in self.steps]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Challenge:
        try:
            steps = tuple(Step(**{k: float(v) for k, v in s.items()}) for s in d["steps"])
            return cls(model=str(d["model"]), steps=steps, fan_percent=float(d["fan_percent"]),
                       sample_s=float(d.get("sample_s", 1.0)), warmup_s=float(d.get("warmup_s", 1200.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed challenge: {exc}") from None

    @property
    def digest(self) -> str:
        """Stable id of the schedule: a signature is only comparable with one measured under the same challenge."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.steps)


def envelope_for(model: str) -> SafetyEnvelope:
    if model not in MODEL_DATA:
        raise ValueError(f"unknown model {model!r} (choose from {', '.join(PUF_MODELS)})")
    return MODEL_DATA[model].envelope


def default_challenge(model: str, step_s: float = 60.0) -> Challenge:
    """Frequency steps into and out of each chip's voltage margin (where per-chip error rates differ)."""
    if model == "lv06":
        freqs = (485.0, 525.0, 560.0, 525.0)  # 575 MHz would pass its 65 C throttle at 32+ C ambient
        tick, pool = 1.0, 64.0
    elif model == "s9":
        freqs = (650.0, 700.0, 650.0, 600.0)
        tick, pool = 1.0, 1024.0
    elif model == "lbbox":
        freqs = (500.0, 450.0, 400.0, 350.0)  # runs at its 75 C throttle: only steps down (never refused)
        tick, pool = 1.0, 64.0
    else:
        raise ValueError(f"no PUF challenge for model {model!r} (choose from {', '.join(PUF_MODELS)})")
    steps = tuple(Step(f, step_s, tick, pool) for f in freqs)
    challenge = Challenge(model=model, steps=steps, fan_percent=100.0)
    validate_challenge(challenge)
    return challenge


def validate_challenge(challenge: Challenge) -> None:
    """Static envelope check of the whole schedule (range, step size, settle time); raises EnvelopeViolation."""
    env = envelope_for(challenge.model)
    device = f"puf-challenge-{challenge.model}"
    if not challenge.steps:
        raise ValueError("a challenge needs at least one step")
    if not challenge.sample_s > 0 or not challenge.warmup_s >= 0:
        raise ValueError("sample_s must be > 0 and warmup_s >= 0")
    _check_range(env, device, "fan_percent", challenge.fan_percent)
    previous: float | None = None
    for i, step in enumerate(challenge.steps):
        if not step.duration_s >= 2 * challenge.sample_s:
            raise ValueError(f"step {i}: duration_s must be >= 2 samples ({2 * challenge.sample_s} s)")
        if not (step.ticket_difficulty > 0 and step.pool_difficulty > 0):
            raise ValueError(f"step {i}: difficulties must be > 0")
        if previous is None:
            _check_range(env, device, "frequency_mhz", step.frequency_mhz)
        else:
            env.check(device, "frequency_mhz", step.frequency_mhz, current=previous,
                      since_last_change_s=challenge.steps[i - 1].duration_s, temperature_c=None)
        previous = step.frequency_mhz


def _check_range(env: SafetyEnvelope, device: str, setting: str, value: float) -> None:
    r = env.range_for(setting)
    if not r.low <= value <= r.high:
        raise EnvelopeViolation(device, setting, value, f"outside [{r.low:g}, {r.high:g}]")
