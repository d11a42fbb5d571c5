"""The one Device interface every model and transport implements (owned by drivers/, see docs/architecture.md).

Models differ by declarative data (identity fields, envelopes, API field maps), not by copies of control flow.
Every actuation goes through ``SafetyEnvelope.check`` before anything is sent to hardware.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(slots=True, frozen=True)
class Range:
    low: float
    high: float
    max_step: float  # largest change allowed in one request
    settle_s: float  # minimum time between two changes of this setting


@dataclass(slots=True, frozen=True)
class SafetyEnvelope:
    """Per-model limits. Values in the units of the setting name (MHz, mV, percent, difficulty)."""

    frequency_mhz: Range
    core_voltage_mv: Range
    fan_percent: Range
    thermal_throttle_c: float  # above: refuse increases, step frequency down
    thermal_stop_c: float  # above: stop hashing, report why


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
