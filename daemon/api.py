"""Request handlers behind MQTT (and `asicrc query`): queries always, commands only if allow-listed.

Every actuation goes to the device, whose driver checks its model's SafetyEnvelope before sending anything;
the daemon also checks the plain range first so a refusal names the limit even for a device that is offline.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from asicrc.drivers.api.errors import ApiError
from asicrc.drivers.device import ActuationUnsupported, Device, EnvelopeViolation

from .config import COMMANDS, QUERIES
from .ratelimit import RateLimiter

log = logging.getLogger("asicrc.api")

# What a device can answer a command with that is the device's problem, not a bug: reported to the requester.
DEVICE_ERRORS = (ApiError, ActuationUnsupported, ValueError, RuntimeError, NotImplementedError)


class RequestError(Exception):
    """A request that cannot be honoured; the message goes back to the requester."""


class Controller(Protocol):
    """What the running daemon exposes to request handlers."""

    node_id: str

    def status(self) -> dict[str, Any]: ...

    def device_list(self) -> list[dict[str, Any]]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def get_device(self, device_id: str) -> Device: ...

    def reservoir_report(self) -> dict[str, Any]: ...

    def tpf_state(self) -> dict[str, Any]: ...

    async def start_experiment(self, name: str, params: dict[str, Any]) -> dict[str, Any]: ...

    async def stop_experiment(self, name: str) -> dict[str, Any]: ...


def _number(params: Mapping[str, Any], key: str) -> float:
    if key not in params:
        raise RequestError(f"missing parameter {key!r}")
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise RequestError(f"parameter {key!r} must be a finite number, got {v!r}")
    return float(v)


def _text(params: Mapping[str, Any], key: str) -> str:
    v = params.get(key)
    if not isinstance(v, str) or not v:
        raise RequestError(f"missing parameter {key!r} (a non-empty string)")
    return v


# command -> (envelope setting, parameter name, Device method name)
# request -> (envelope setting, value parameter, how the device applies it: a call, so subclasses' overrides run)
ACTUATIONS: dict[str, tuple[str, str, Callable[[Device, float], Awaitable[None]]]] = {
    "set_frequency": ("frequency_mhz", "mhz", lambda device, mhz: device.set_frequency(mhz)),
    "set_voltage": ("core_voltage_mv", "mv", lambda device, mv: device.set_core_voltage(mv)),
    "set_fan": ("fan_percent", "percent", lambda device, percent: device.set_fan(percent)),
    "set_difficulty": ("difficulty", "difficulty", lambda device, difficulty: device.set_difficulty(difficulty)),
}


class Api:
    """Queries always; commands only when allow-listed, each under its own rate limit (`rate_per_s(command)`),
    and one restart per device at a time (concurrent requests share the one in flight)."""

    def __init__(self, controller: Controller, allow_commands: Iterable[str],
                 rate_per_s: Callable[[str], float] | None = None, now: Callable[[], float] = time.monotonic) -> None:
        self.ctl = controller
        self.allowed = frozenset(allow_commands)
        self._rate_per_s = rate_per_s or (lambda _command: math.inf)
        self._limiter = RateLimiter(burst_s=60.0, now=now)  # command rates are per minute, burst = one minute's
        self._restarts: dict[str, asyncio.Task[None]] = {}  # device id -> restart in flight (keys: running devices)
        self._queries: dict[str, Callable[[dict[str, Any]], Any]] = {
            "ping": lambda p: {"pong": True, "node": self.ctl.node_id},
            "status": lambda p: self.ctl.status(),
            "devices": lambda p: self.ctl.device_list(),
            "telemetry": self._telemetry,
            "reservoir": lambda p: self.ctl.reservoir_report(),
            "narma": lambda p: self.ctl.reservoir_report(),
            "tpf": lambda p: self.ctl.tpf_state(),
        }
        assert set(self._queries) == set(QUERIES)

    @property
    def methods(self) -> list[str]:
        return [*QUERIES, *COMMANDS]

    async def handle(self, method: str, params: dict[str, Any]) -> Any:
        if method in self._queries:
            return self._queries[method](params)
        if method not in COMMANDS:
            raise RequestError(f"unknown method {method!r}; known: {', '.join(self.methods)}")
        if method not in self.allowed:
            raise RequestError(f"command {method!r} is not allowed on this node: commands are read-only until "
                               "[mqtt] allow_commands names them (docs/install.md)")
        if method == "restart_device":  # a request joining a restart in flight costs nothing: check before the limit
            device_id = _text(params, "device")
            if device_id in self._restarts:
                return await self._join_restart(device_id)
        rate = self._rate_per_s(method)
        if math.isfinite(rate) and not self._limiter.allow(method, rate):
            raise RequestError(f"command {method!r} refused: rate limit of {rate * 60:g} per minute reached "
                               "(see mqtt.command_rates)")
        return await self._command(method, params)

    def _telemetry(self, params: dict[str, Any]) -> Any:
        devices = self.ctl.snapshot().get("devices", {})
        dev = params.get("device")
        if dev is None:
            return {k: _live_telemetry(v) for k, v in devices.items()}
        if not isinstance(dev, str) or dev not in devices:
            raise RequestError(f"unknown device {_short(dev)}; known: {', '.join(sorted(devices)) or 'none'}")
        return _live_telemetry(devices[dev])

    async def _command(self, method: str, params: dict[str, Any]) -> Any:
        if method in ACTUATIONS:
            return await self._actuate(method, params)
        if method == "restart_device":
            return await self._restart(_text(params, "device"))
        if method == "start_narma":
            return await self.ctl.start_experiment("narma", params)
        if method == "start_experiment":
            return await self.ctl.start_experiment(_text(params, "name"), params)
        if method == "stop_experiment":
            return await self.ctl.stop_experiment(_text(params, "name"))
        raise RequestError(f"command {method!r} has no handler")  # COMMANDS and this table out of step

    async def _restart(self, device_id: str) -> dict[str, Any]:
        device = self.ctl.get_device(device_id)
        task = asyncio.get_running_loop().create_task(device.restart(), name=f"restart:{device_id}")
        self._restarts[device_id] = task
        task.add_done_callback(lambda _t: self._restarts.pop(device_id, None))
        try:
            await asyncio.shield(task)
        except DEVICE_ERRORS as exc:
            raise RequestError(f"restart_device failed: {exc}") from None
        return {"device": device_id, "restarted": True}

    async def _join_restart(self, device_id: str) -> dict[str, Any]:
        """Another request already restarts this device: wait for that one instead of restarting again."""
        try:
            await asyncio.shield(self._restarts[device_id])
        except DEVICE_ERRORS as exc:
            raise RequestError(f"restart_device failed: {exc}") from None
        return {"device": device_id, "restarted": True, "deduplicated": True}

    async def _actuate(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        setting, pname, apply = ACTUATIONS[method]
        device_id = _text(params, "device")
        value = _number(params, pname)
        device = self.ctl.get_device(device_id)
        rng = device.envelope.range_for(setting)
        try:
            if not rng.low <= value <= rng.high:
                raise EnvelopeViolation(device_id, setting, value, f"outside [{rng.low:g}, {rng.high:g}]")
            await apply(device, value)
        except EnvelopeViolation as exc:
            log.warning("refused %s: %s", method, exc)
            raise RequestError(f"refused by the safety envelope: {exc}") from None
        except DEVICE_ERRORS as exc:
            log.warning("%s on %s failed: %s", method, device_id, exc)
            raise RequestError(f"{method} failed: {exc}") from None
        log.info("%s %s=%g on %s", method, setting, value, device_id)
        return {"device": device_id, "setting": setting, "value": value}


def _live_telemetry(dev: Mapping[str, Any]) -> dict[str, Any]:
    """A live device's telemetry as is; a down device's last values only under an explicit stale marker."""
    if dev.get("available"):
        return dict(dev.get("telemetry", {}))
    return {"stale": True, "last_success_unix": dev.get("last_success_unix"),
            "last_good": dict(dev.get("last_good_telemetry", {}))}


def _short(value: Any, limit: int = 80) -> str:
    """repr() of a requester's value, cut so an error message never echoes a huge payload back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
