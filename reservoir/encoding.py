"""Input drivers: how a scalar u(t) becomes an actuation of a device.

Encodings (one knob each):
  difficulty  D = clip(D_base / (u + ε), D_min, D_max): rate encoding, shares arrive at rate ∝ hashrate / D
  job         u packed big-endian float32 into the job's coinbase bytes: changes only which nonces win
  frequency   f = f_low + (u / u_max)·(f_high − f_low), clipped to the model's SafetyEnvelope, rate-limited by
              its max_step, and refused outright if the step is shorter than the envelope's settle time
  voltage     the same for core voltage (mV)
  fan         the same for the fan setpoint (%), auto-fan off; the default band starts at FAN_LOW_PERCENT, not
              at the envelope's low, so that the stock clock never heats the die into the host's thermal guard
              (which would then act on the input)
For the knob encodings (frequency, voltage, fan) ``InputEncoder.commanded`` is the value actually sent for the
last sub-window, after slew limiting and envelope clipping: the run records it, and the ``commanded20`` control
regresses on it, so that memory the host's slew limiter puts into the command is never credited to the device.
Modes:
  monologue   actuation depends on u(t) only
  dialogue    actuation depends on u(t) and the previous step's state: the share-count z-score of step t−1
              (running statistics) multiplies the encoded knob by exp(feedback·z) (the paper's handshake mode)
  constant    the control: the knob encodes the constant u_const whatever u(t) is
Virtual nodes: each step is cut into V sub-windows; sub-window j drives u(t)·mask[j] with a fixed random mask in
[0.5, 1.5] (Appeltant 2011 time multiplexing), so neighbouring sub-windows see different drive.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from asicrc.drivers.device import Range, SafetyEnvelope

MODES = ("monologue", "dialogue", "constant")
ENCODINGS = ("difficulty", "job", "frequency", "voltage", "fan")
KNOB_ENCODINGS = ("frequency", "voltage", "fan")  # encodings that move a physical setting through the envelope
FAN_LOW_PERCENT = 40.0  # LV06 sim: the die settles at ~59 C here at stock clock, below the 65 C throttle
U_MAX = 0.5
STEP_MARGIN = 0.9  # use at most 90% of the envelope's max step per change
KNOB_SETTINGS = {"frequency": "frequency_mhz", "voltage": "core_voltage_mv", "fan": "fan_percent"}  # envelope names
U_CONST = 0.25  # NARMA input mean: the constant-drive control sits at the same operating point


@dataclass(frozen=True, slots=True)
class Actuation:
    """What to do at the start of one sub-window; None means leave that knob alone."""

    difficulty: float | None = None
    job_payload: bytes | None = None
    frequency_mhz: float | None = None
    core_voltage_mv: float | None = None
    fan_percent: float | None = None


@dataclass(slots=True)
class _RunningZ:
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def z(self, x: float) -> float:
        if self.n < 2:
            return 0.0
        sd = math.sqrt(self.m2 / (self.n - 1))
        return 0.0 if sd == 0 else (x - self.mean) / sd

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    encoding: str = "difficulty"
    mode: str = "monologue"
    d_base: float | None = None  # None: the backend picks it from the device's nominal hashrate
    eps: float = 0.05
    d_min: float = 1e-12  # clip range of the encoded difficulty (the Stratum server clips to its own range too)
    d_max: float = 1e15
    knob_low: float | None = None  # frequency MHz / voltage mV / fan % at u = 0 (default: envelope low; fan:
    # max(envelope low, FAN_LOW_PERCENT))
    knob_high: float | None = None  # at u = u_max (default: envelope high)
    feedback: float = 0.3  # dialogue gain on the previous step's share-count z-score
    u_const: float = U_CONST
    virtual_nodes: int = 1
    mask_seed: int = 0

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {self.encoding!r} (choose from {', '.join(ENCODINGS)})")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (choose from {', '.join(MODES)})")
        if not ((self.d_base is None or self.d_base > 0) and self.eps > 0 and 0 < self.d_min <= self.d_max):
            raise ValueError("difficulty encoding needs d_base > 0, eps > 0 and 0 < d_min <= d_max")
        if self.virtual_nodes < 1:
            raise ValueError(f"virtual_nodes must be >= 1, got {self.virtual_nodes}")


@dataclass(slots=True)
class InputEncoder:
    """Stateful: call ``actuation(u_t, sub)`` for each sub-window, then ``observe(step_share_count)``."""

    cfg: EncoderConfig
    envelope: SafetyEnvelope | None = None
    sub_period_s: float = 1.0
    mask: npt.NDArray[np.float64] = field(init=False)
    _z: _RunningZ = field(default_factory=_RunningZ)
    _last_z: float = 0.0
    _knob: float | None = None
    commanded: float | None = None  # knob encodings: the value sent by the last actuation (see module docstring)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.cfg.mask_seed)
        v = self.cfg.virtual_nodes
        self.mask = np.ones(1) if v == 1 else rng.uniform(0.5, 1.5, v)
        if self.cfg.encoding in KNOB_ENCODINGS:
            rng_ = self._range()
            if self.sub_period_s < rng_.settle_s:
                raise ValueError(
                    f"{self.cfg.encoding} modulation needs >= {rng_.settle_s} s between changes (safety envelope"
                    f" settle time) but a sub-window lasts {self.sub_period_s} s")

    def _range(self) -> Range:
        if self.envelope is None:
            raise ValueError(f"{self.cfg.encoding} modulation needs the device's safety envelope")
        return self.envelope.range_for(KNOB_SETTINGS[self.cfg.encoding])

    def start_from(self, knob_value: float) -> None:
        """The device's present frequency/voltage: the first change is then limited to one envelope step."""
        self._knob = float(knob_value)

    def effective_u(self, u: float, sub: int) -> float:
        base = self.cfg.u_const if self.cfg.mode == "constant" else float(u) * float(self.mask[sub])
        return min(max(base, 0.0), U_MAX * 1.5)

    def actuation(self, u: float, sub: int = 0) -> Actuation:
        ue = self.effective_u(u, sub)
        gain = math.exp(self.cfg.feedback * self._last_z) if self.cfg.mode == "dialogue" else 1.0
        if self.cfg.encoding == "difficulty":
            if self.cfg.d_base is None:
                raise ValueError("difficulty encoding needs d_base (none given and none derived by the backend)")
            d = self.cfg.d_base / (ue + self.cfg.eps) * gain
            return Actuation(difficulty=min(max(d, self.cfg.d_min), self.cfg.d_max))
        if self.cfg.encoding == "job":
            return Actuation(job_payload=struct.pack(">f", ue * gain))
        r = self._range()
        default_low = max(r.low, FAN_LOW_PERCENT) if self.cfg.encoding == "fan" else r.low
        low = default_low if self.cfg.knob_low is None else self.cfg.knob_low
        high = r.high if self.cfg.knob_high is None else self.cfg.knob_high
        want = low + min(ue * gain / U_MAX, 1.0) * (high - low)
        if self._knob is not None:  # the envelope's largest single change, with a margin because the device
            step = STEP_MARGIN * r.max_step  # reports its setting rounded (AxeOS: integer MHz / mV)
            want = min(max(want, self._knob - step), self._knob + step)
        want = min(max(want, r.low), r.high)
        self._knob = self.commanded = want
        if self.cfg.encoding == "frequency":
            return Actuation(frequency_mhz=want)
        if self.cfg.encoding == "fan":
            return Actuation(fan_percent=want)
        return Actuation(core_voltage_mv=want)

    def observe(self, step_share_count: float) -> None:
        """Feed back the state of the step that just ended (used by dialogue mode)."""
        x = math.log1p(max(step_share_count, 0.0))
        self._last_z = self._z.z(x)
        self._z.add(x)
