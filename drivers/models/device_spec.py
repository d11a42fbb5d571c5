"""DeviceSpec: what the daemon's config names for one device; validated with errors naming the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..registry import MODELS

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class SpecError(ValueError):
    """A device spec key is missing, unknown or has a bad value; the message names the key."""


@dataclass(slots=True, frozen=True)
class DeviceSpec:
    model: str  # a model of the registry (asicrc.drivers.registry.MODELS)
    device_id: str  # [A-Za-z0-9_-], used in topics and labels
    host: str = "127.0.0.1"  # network models
    port: int | None = None  # the model's primary port: HTTP for lv06/lbbox, 4028 RPC for s9 (daemon's `port`)
    http_port: int | None = None  # AxeOS / Goldshell web port (default: `port`, else 80)
    rpc_port: int | None = None  # cgminer 4028 API port (s9 default: `port`, else 4028; lbbox: 4028)
    serial_port: str | None = None  # UART models: /dev/ttyUSB0 or a pty path
    worker: str | None = None  # Stratum worker name this device authorizes as (default: device_id)
    password: str | None = None  # Goldshell web password (default: the factory one)
    poll_interval_s: float = 5.0  # API telemetry period (clock seconds)
    timeout_s: float = 3.0  # per-request timeout
    chips: int | None = None  # UART chains: expected chip count (default: enumerate)
    frequency_mhz: float | None = None  # UART chains: initial PLL frequency (default: model's)
    difficulty: float | None = None  # UART chains: initial ticket-mask difficulty
    job_interval_s: float = 2.0  # UART chains: a fresh job this often (clock seconds)
    baud: int | None = None  # UART chains: baud after init (default: BM1366 1000000, BM1387 stays at 115200)
    difficulty_scale: float = 1.0  # simulated chains only: their nonces meet ticket difficulty x this (sim: 2^-24)
    restart_timeout_s: float = 60.0  # how long restart() waits for the device to come back

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], where: str = "device") -> DeviceSpec:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise SpecError(f"{where}.{unknown[0]}: unknown key (expected one of {', '.join(known)})")
        for key in ("model", "device_id"):
            if key not in raw:
                raise SpecError(f"{where}.{key}: required")
        kwargs: dict[str, Any] = {}
        for name, value in raw.items():
            kwargs[name] = _coerce(name, value, str(known[name].type), f"{where}.{name}")
        spec = cls(**kwargs)
        spec.validate(where)
        return spec

    def validate(self, where: str = "device") -> None:
        if self.model not in MODELS:
            raise SpecError(f"{where}.model: {self.model!r} is not one of {', '.join(MODELS)}")
        if not DEVICE_ID_RE.match(self.device_id):
            raise SpecError(f"{where}.device_id: {self.device_id!r} must match [A-Za-z0-9_-]{{1,64}}")
        for key in ("port", "http_port", "rpc_port"):
            port = getattr(self, key)
            if port is not None and not 0 < port < 65536:
                raise SpecError(f"{where}.{key}: {port} is not a TCP port (1..65535)")
        for key in ("poll_interval_s", "timeout_s", "restart_timeout_s", "job_interval_s"):
            if not getattr(self, key) > 0:
                raise SpecError(f"{where}.{key}: must be > 0, got {getattr(self, key)!r}")
        if MODELS[self.model].link == "uart" and not self.serial_port:
            raise SpecError(f"{where}.serial_port: required for model {self.model}")
        if self.difficulty is not None and not self.difficulty >= 1:
            raise SpecError(f"{where}.difficulty: a ticket-mask difficulty must be >= 1, got {self.difficulty!r}")
        if not 0 < self.difficulty_scale <= 1:
            raise SpecError(f"{where}.difficulty_scale: must be in (0, 1], got {self.difficulty_scale!r}")
        if self.baud is not None and not 9600 <= self.baud <= 3_125_000:
            raise SpecError(f"{where}.baud: must be 9600..3125000, got {self.baud}")
        if self.chips is not None and not 1 <= self.chips <= 256:
            raise SpecError(f"{where}.chips: must be 1..256, got {self.chips}")

    @property
    def worker_name(self) -> str:
        return self.worker or self.device_id

    def http_port_or(self, default: int) -> int:
        if self.http_port is not None:
            return self.http_port
        if self.port is not None and MODELS[self.model].primary_port == "http":
            return self.port
        return default

    def rpc_port_or(self, default: int) -> int:
        if self.rpc_port is not None:
            return self.rpc_port
        if self.port is not None and MODELS[self.model].primary_port == "rpc":
            return self.port
        return default


def _coerce(name: str, value: Any, type_text: str, where: str) -> Any:
    if value is None and "None" in type_text:
        return None
    if type_text.startswith("int") or "int |" in type_text:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{where}: expected an integer, got {value!r}")
        return value
    if type_text.startswith("float") or "float |" in type_text:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise SpecError(f"{where}: expected a string, got {value!r}")
    return value
