"""The one Device interface every model and transport implements (owned by drivers/, see docs/architecture.md).

Models differ by declarative data (identity fields, envelopes, API field maps), not by copies of control flow.
Every actuation goes through ``SafetyEnvelope.check`` before anything is sent to hardware.
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from asicrc.drivers.usererror import UserError

from .events import Event


@dataclass(slots=True, frozen=True)
class Identity:
    device_id: str  # stable id used in topics/labels, [a-zA-Z0-9_-]
    model: str  # "s9" | "lv06" | "lbbox" | "bm1366-uart" | "bm1387-uart"
    serial: str  # serial number or MAC
    chips: int
    firmware: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class EnvelopeViolation(ValueError):
    """An actuation request outside the model's safety envelope. Nothing was sent to the device."""

    def __init__(self, device_id: str, setting: str, value: float, reason: str) -> None:
        super().__init__(f"{device_id}: refused {setting}={value}: {reason}")
        self.device_id = device_id
        self.setting = setting
        self.value = value
        self.reason = reason

    def __reduce__(self) -> tuple[type[EnvelopeViolation], tuple[str, str, float, str]]:
        # picklable with its own arguments, so a refusal inside a worker process reaches the caller as itself
        return (type(self), (self.device_id, self.setting, self.value, self.reason))


class ActuationUnsupported(UserError, RuntimeError):
    """The device (or its current transport) has no way to change this setting. Nothing was sent."""


    def __init__(self, device_id: str, setting: str, why: str) -> None:
        super().__init__(f"{device_id}: cannot set {setting}: {why}")
        self.device_id = device_id
        self.setting = setting


@dataclass(slots=True, frozen=True)
class Range:
    low: float
    high: float
    max_step: float  # largest change allowed in one request
    settle_s: float  # minimum time between two changes of this setting


# Settings whose increase adds heat: refused above the throttle temperature.
HEATING_SETTINGS = frozenset({"frequency_mhz", "core_voltage_mv"})


@dataclass(slots=True, frozen=True)
class SafetyEnvelope:
    """Per-model limits. Values in the units of the setting name (MHz, mV, percent, difficulty)."""

    frequency_mhz: Range
    core_voltage_mv: Range
    fan_percent: Range
    thermal_throttle_c: float  # above: refuse increases, step frequency down
    thermal_stop_c: float  # above: stop hashing, report why
    difficulty: Range = Range(1e-9, 1e15, math.inf, 0.0)  # share difficulty / ticket mask: no heat, wide

    def range_for(self, setting: str) -> Range:
        """The range of a setting named as commands and config keys name it; KeyError for any other name."""
        ranges = {"frequency_mhz": self.frequency_mhz, "core_voltage_mv": self.core_voltage_mv,
                  "fan_percent": self.fan_percent, "difficulty": self.difficulty}
        try:
            return ranges[setting]
        except KeyError:
            raise KeyError(f"unknown setting {setting!r}") from None

    def check(
        self,
        device_id: str,
        setting: str,
        value: float,
        *,
        current: float | None,
        since_last_change_s: float | None,
        temperature_c: float | None,
        temperature_fault: str = "",
    ) -> None:
        """Raise EnvelopeViolation if `value` may not be sent now; return None when it may.

        current: the setting's present value (None = unknown: then only a value inside the range and no larger
        than the range's first step above `low` is allowed, because the step size cannot be checked).
        since_last_change_s: clock seconds since the last accepted change of this setting (None = never).
        temperature_c: hottest plausible chip temperature now (None = the model reports none).
        temperature_fault: why the temperature reading cannot be trusted ("" = it can): then no heating increase
            is allowed at all, whatever `temperature_c` says (a broken sensor is not a cold chip).
        """
        r = self.range_for(setting)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise EnvelopeViolation(device_id, setting, value, "not a finite number")
        if not r.low <= value <= r.high:
            raise EnvelopeViolation(device_id, setting, value, f"outside [{r.low:g}, {r.high:g}]")
        increase = current is None or value > current
        if setting in HEATING_SETTINGS and increase and temperature_fault:
            raise EnvelopeViolation(
                device_id, setting, value,
                f"chip temperature not trusted ({temperature_fault}): no increases until it reads sanely",
            )
        if setting in HEATING_SETTINGS and increase and temperature_c is not None:
            if temperature_c >= self.thermal_stop_c:
                raise EnvelopeViolation(
                    device_id, setting, value,
                    f"chip at {temperature_c:.1f} C >= thermal stop {self.thermal_stop_c:g} C",
                )
            if temperature_c >= self.thermal_throttle_c:
                raise EnvelopeViolation(
                    device_id, setting, value,
                    f"chip at {temperature_c:.1f} C >= throttle {self.thermal_throttle_c:g} C: no increases",
                )
        if current is None:
            if math.isfinite(r.max_step) and value > r.low + r.max_step:
                raise EnvelopeViolation(
                    device_id, setting, value,
                    f"present value unknown: only up to {r.low + r.max_step:g} allowed until it is read",
                )
        elif abs(value - current) > r.max_step:
            raise EnvelopeViolation(
                device_id, setting, value, f"step {value - current:+g} from {current:g} exceeds max step {r.max_step:g}"
            )
        if since_last_change_s is not None and since_last_change_s < r.settle_s and value != current:
            raise EnvelopeViolation(
                device_id, setting, value,
                f"last change {since_last_change_s:.1f} s ago; settle time is {r.settle_s:g} s",
            )


class Device(abc.ABC):
    """Identity, telemetry and actuation for one device, whatever its transport."""

    identity: Identity
    envelope: SafetyEnvelope

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect transports and start producing events; returns once running (reconnects are internal)."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and stop all tasks."""

    @abc.abstractmethod
    def events(self) -> AsyncIterator[Event]:
        """Async stream of this device's events (shares/nonces, telemetry, faults, state)."""

    @abc.abstractmethod
    async def telemetry(self) -> dict[str, Any]:
        """Latest telemetry snapshot in SI units (keys as in Event telemetry)."""

    @abc.abstractmethod
    async def set_frequency(self, mhz: float) -> None: ...

    @abc.abstractmethod
    async def set_core_voltage(self, mv: float) -> None: ...

    @abc.abstractmethod
    async def set_fan(self, percent: float) -> None: ...

    @abc.abstractmethod
    async def set_difficulty(self, difficulty: float) -> None:
        """Stratum share difficulty (or serial ticket mask) used from the next job on."""

    @abc.abstractmethod
    async def restart(self) -> None: ...

    def setting(self, name: str) -> float | None:
        """The last known value of a setting (envelope units: "frequency_mhz", "core_voltage_mv", "fan_percent"),
        i.e. what the envelope checks the next step against; None when unknown. For core voltage this is the
        setpoint, which differs from the sensed core voltage in telemetry."""
        return None
