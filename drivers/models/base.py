"""The control flow every model shares: polling with backoff, online/offline state, faults, thermal guard, and
envelope-checked actuation. Models supply only transport calls (`_poll`, `_send_*`) and their ModelData.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from ..api.errors import ApiError
from ..backoff import Backoff
from ..clock import Clock
from ..device import ActuationUnsupported, Device, EnvelopeViolation, Identity
from ..events import POLL_DURATION_KEY, Event, FanOut, Kind, Source, Subscription
from ..pacer import PollPacer, next_deadline
from ..registry import ModelData
from ..tasks import cancel_and_wait
from .device_spec import DeviceSpec
from .plausibility import TEMPERATURE_KEYS, check_telemetry

log = logging.getLogger(__name__)

OFFLINE_AFTER_FAILURES = 2  # one lost poll is a fault; two in a row mean the device has left
SETTING_TELEMETRY = {"frequency_mhz": ("frequency_hz", 1e-6), "core_voltage_mv": ("core_voltage_v", 1e3),
                     "fan_percent": ("fan_percent", 1.0)}


def hottest(value: Any) -> float | None:
    """Max of a temperature field that may be a number or a per-chain list."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)):
        nums = [float(v) for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(nums) if nums else None
    return None


class BaseDevice(Device):
    """A device whose telemetry is produced by `_poll()` every `poll_interval_s` and whose settings go out through
    `_send(setting, value)`. Subclasses: network models (poll an API) and UART chains (poll registers)."""

    source: Source = Source.HTTP
    # telemetry key -> setting it reports, with the scale to envelope units (read back after every poll)
    setting_sources: ClassVar[dict[str, tuple[str, float]]] = SETTING_TELEMETRY

    def __init__(self, spec: DeviceSpec, data: ModelData, *, fanout: FanOut, clock: Clock,
                 pacer: PollPacer | None = None) -> None:
        self.spec = spec
        self.pacer = pacer  # shared by a fleet's devices: staggered phases, bounded polls in flight
        self.data = data
        self.envelope = data.envelope
        self.fanout = fanout
        self.clock = clock
        self.identity = Identity(device_id=spec.device_id, model=data.model, serial="", chips=data.chips)
        self.online = False
        self.thermal_state = "ok"  # "ok" | "throttle" | "stop"
        self._snapshot: dict[str, Any] = {}
        self._settings: dict[str, float] = {}  # last known value of each setting (envelope units)
        self._changed_at: dict[str, float] = {}  # clock seconds of the last accepted change
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff(initial_s=min(0.5, spec.poll_interval_s), cap_s=max(30.0, spec.poll_interval_s))
        self._act_lock = asyncio.Lock()
        self._failures = 0
        self._restarting = False  # restart() owns the online/offline story until the device is back
        # why the chip temperature cannot be trusted right now ("" = it can): refuses heating increases and
        # keeps the thermal guard from releasing (a broken sensor is never "cold")
        self._temp_fault = ""

    # ---- hooks for models -------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        """Open transports / read identity; raise ApiError when the device is not reachable."""

    async def _disconnect(self) -> None:
        """Close transports."""

    async def _poll(self) -> dict[str, Any]:
        """One telemetry snapshot in SI units; raise ApiError on failure."""
        raise NotImplementedError

    async def _send(self, setting: str, value: float) -> None:
        """Send one already-checked setting to the device."""
        raise ActuationUnsupported(self.spec.device_id, setting, f"{self.data.display_name} has no such control")

    async def _send_restart(self) -> None:
        raise ActuationUnsupported(self.spec.device_id, "restart", f"{self.data.display_name} cannot be restarted")

    async def _pause_hashing(self, pause: bool) -> str:
        """Stop (pause=True) or resume hashing at the thermal stop; return what was done ("" = not possible)."""
        return ""

    # ---- events ------------------------------------------------------------------------------------------------
    def publish(self, kind: Kind, data: dict[str, Any], source: Source | None = None, t_ns: int | None = None) -> None:
        self.fanout.publish(Event(
            t_ns=self.clock.now_ns() if t_ns is None else t_ns, device=self.spec.device_id,
            source=source or self.source, kind=kind, data=data,
        ))

    def fault(self, reason: str, detail: str, *, poll_failed: bool = False,
              poll_duration_s: float | None = None) -> None:
        """Report a fault; `poll_failed` marks the ones that mean this poll produced no telemetry (liveness)."""
        log.info("%s: fault %s: %s", self.spec.device_id, reason, detail)
        data: dict[str, Any] = {"reason": reason, "detail": detail}
        if poll_failed:
            data["poll_failed"] = True
        if poll_duration_s is not None:
            data[POLL_DURATION_KEY] = poll_duration_s
        self.publish(Kind.FAULT, data)

    def _set_online(self, online: bool, detail: str = "") -> None:
        if online != self.online:
            self.online = online
            data: dict[str, Any] = {"state": "online" if online else "offline"}
            if detail:
                data["detail"] = detail
            if online:
                data.update(model=self.identity.model, serial=self.identity.serial, firmware=self.identity.firmware,
                            chips=self.identity.chips)
            self.publish(Kind.STATE, data)

    def _accepts(self, event: Event) -> bool:
        return event.device == self.spec.device_id

    def events(self) -> AsyncIterator[Event]:
        """This device's events from the moment of the call (subscribes now, not at the first iteration)."""
        return self._stream(self.fanout.subscribe())

    async def _stream(self, sub: Subscription) -> AsyncIterator[Event]:
        try:
            async for event in sub:
                if self._accepts(event):
                    yield event if event.device == self.spec.device_id else _rename(event, self.spec.device_id)
        finally:
            sub.close()

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """First contact is attempted once here; if the device is away, the poll loop keeps retrying (never raises
        for an absent device). With a pacer, first contact waits for the device's phase of the interval instead
        (a fleet's devices then never all connect at once) and happens in the poll loop."""
        if self._task is not None:
            return
        if self.pacer is not None:
            delay = self.pacer.phase() * self.spec.poll_interval_s
            self._task = asyncio.create_task(self._run(None, delay), name=f"device-{self.spec.device_id}")
            return
        ok = await self._attempt()
        self._task = asyncio.create_task(self._run(ok), name=f"device-{self.spec.device_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._disconnect()
        if self.online:
            self._set_online(False, "stopped")

    async def _run(self, ok: bool | None, first_delay_s: float = 0.0) -> None:
        # Polls keep to a grid (first poll + k * interval) rather than sleeping an interval after each poll,
        # so the phases a pacer spread stay spread instead of drifting by each poll's duration.
        interval = self.spec.poll_interval_s
        if ok is None:
            await self.clock.sleep(first_delay_s)
            ok = await self._attempt()
        deadline = self.clock.now()
        while True:
            deadline = next_deadline(deadline, self.clock.now(), interval)
            if ok:
                await self.clock.sleep(max(0.0, deadline - self.clock.now()))
            else:
                await self._backoff.sleep(self.clock)
            ok = await self._attempt()

    async def _attempt(self) -> bool:
        if self.pacer is None:
            return await self._attempt_guarded()
        async with self.pacer.slot():
            return await self._attempt_guarded()

    async def _attempt_guarded(self) -> bool:
        if self._restarting:
            return True
        try:
            return await self._attempt_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a driver bug must not kill the poll loop: report it and keep going
            log.exception("%s: unexpected error while polling", self.spec.device_id)
            self.fault("internal", f"{type(exc).__name__}: {exc}", poll_failed=True)
            return False

    async def _attempt_once(self) -> bool:
        # on the device's clock: the real duration in the daemon, simulated time on a virtual-time loop (where a
        # wall-clock reading would make a replayed run differ)
        t0 = self.clock.now()
        try:
            if not self.online:
                await self._connect()
            tel = await self._poll()
        except ApiError as exc:
            self._failures += 1
            self.fault(exc.reason, str(exc), poll_failed=True, poll_duration_s=self.clock.now() - t0)
            if TEMPERATURE_KEYS & self._snapshot.keys():  # a model that reports temperature now reports none
                self._temp_fault = f"no valid reading, the last poll failed ({exc.reason})"
            if self._failures >= OFFLINE_AFTER_FAILURES or not self.online:
                if self.online:
                    self._set_online(False, str(exc))
                with contextlib.suppress(ApiError):
                    await self._disconnect()
            return False
        self._failures = 0
        self._backoff.reset()
        self._set_online(True)
        checked = check_telemetry(tel)
        if checked.problems:
            more = f" (+{len(checked.problems) - 4} more)" if len(checked.problems) > 4 else ""
            self.fault("implausible", "; ".join(checked.problems[:4]) + more)
        bad_temps = sorted(TEMPERATURE_KEYS & checked.faulty_keys)
        self._temp_fault = f"implausible {', '.join(bad_temps)}" if bad_temps else ""
        self._ingest(checked.telemetry, self.clock.now() - t0)
        await self._thermal_guard()
        return True

    def _ingest(self, tel: dict[str, Any], poll_duration_s: float | None = None) -> None:
        self._snapshot.update(tel)
        self._snapshot["t_ns"] = self.clock.now_ns()
        for setting, (key, scale) in self.setting_sources.items():
            value = tel.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self._settings[setting] = round(float(value) * scale, 6)
        data = dict(tel)
        if poll_duration_s is not None:
            data[POLL_DURATION_KEY] = poll_duration_s
        self.publish(Kind.TELEMETRY, data)

    async def telemetry(self) -> dict[str, Any]:
        return dict(self._snapshot)

    def setting(self, name: str) -> float | None:
        return self._settings.get(name)

    def temperature_c(self) -> float | None:
        return hottest(self._snapshot.get("temp_chip_c"))

    # ---- actuation ---------------------------------------------------------------------------------------------
    async def _actuate(self, setting: str, value: float) -> None:
        async with self._act_lock:
            if setting not in self.data.settable:
                raise ActuationUnsupported(
                    self.spec.device_id, setting,
                    f"{self.data.display_name} over its transport can change only {', '.join(sorted(self.data.settable))}",
                )
            now = self.clock.now()
            last = self._changed_at.get(setting)
            try:
                self.envelope.check(
                    self.spec.device_id, setting, value, current=self._settings.get(setting),
                    since_last_change_s=None if last is None else now - last, temperature_c=self.temperature_c(),
                    temperature_fault=self._temp_fault,
                )
            except EnvelopeViolation as exc:
                self.fault("envelope", str(exc))
                raise
            await self._send(setting, float(value))
            self._settings[setting] = float(value)
            self._changed_at[setting] = self.clock.now()
            self.publish(Kind.STATE, {"state": "setting-changed", "setting": setting, "value": float(value)})

    async def set_frequency(self, mhz: float) -> None:
        await self._actuate("frequency_mhz", mhz)

    async def set_core_voltage(self, mv: float) -> None:
        await self._actuate("core_voltage_mv", mv)

    async def set_fan(self, percent: float) -> None:
        await self._actuate("fan_percent", percent)

    async def set_difficulty(self, difficulty: float) -> None:
        await self._actuate("difficulty", difficulty)

    async def restart(self) -> None:
        if not self.data.restart_supported:
            raise ActuationUnsupported(self.spec.device_id, "restart", f"{self.data.display_name}: not over its API")
        self.publish(Kind.STATE, {"state": "restarting"})
        self._restarting = True
        try:
            await self._send_restart()
        finally:
            self._restarting = False

    # ---- thermal guard -----------------------------------------------------------------------------------------
    async def _thermal_guard(self) -> None:
        """Above throttle: step frequency down one max_step per settle time. Above stop: go to the lowest
        frequency (and full fan when possible) at once. Each action is reported as a fault with the reason."""
        temp = self.temperature_c()
        env = self.envelope
        if temp is None:
            return
        target: float | None
        if self._temp_fault and temp < env.thermal_throttle_c:
            return  # the plausible sensors are cool but another is broken: hold the current state, never release
        if temp >= env.thermal_stop_c:
            state, target = "stop", env.frequency_mhz.low
        elif temp >= env.thermal_throttle_c:
            state = "throttle"
            cur = self._settings.get("frequency_mhz")
            target = max(env.frequency_mhz.low, cur - env.frequency_mhz.max_step) if cur is not None else None
        else:
            if self.thermal_state != "ok":
                resumed = await self._pause_or_report(False) if self.thermal_state == "stop" else ""
                self.publish(Kind.STATE, {"state": "thermal-ok", "temp_chip_c": temp, "detail": resumed})
            self.thermal_state = "ok"
            return
        last = self._changed_at.get("frequency_mhz")
        settled = last is None or self.clock.now() - last >= env.frequency_mhz.settle_s or state == "stop"
        cur = self._settings.get("frequency_mhz")
        acted = ""
        tried = False  # an action was attempted this poll (report it); otherwise report only state changes
        if "frequency_mhz" not in self.data.settable:
            acted = "cannot lower frequency over this transport"
        elif target is not None and settled and (cur is None or target < cur):
            tried = True
            try:
                await self._safety_send("frequency_mhz", target)
                acted = f"frequency -> {target:g} MHz"
            except (ApiError, ActuationUnsupported) as exc:
                acted = f"lowering frequency failed: {exc}"
        if state == "stop" and "fan_percent" in self.data.settable and self._settings.get("fan_percent") != 100.0:
            with contextlib.suppress(ApiError, ActuationUnsupported):
                await self._safety_send("fan_percent", 100.0)
        if state == "stop" and self.thermal_state != "stop":
            paused = await self._pause_or_report(True)
            acted = "; ".join(a for a in (acted, paused) if a)
        limit = env.thermal_stop_c if state == "stop" else env.thermal_throttle_c
        if not acted:
            at_floor = cur is not None and cur <= env.frequency_mhz.low
            acted = "already at the lowest frequency" if at_floor else "waiting for settle time"
        if tried or state != self.thermal_state:
            self.fault(f"thermal-{state}", f"chip {temp:.1f} C >= {limit:g} C; {acted}")
        if state != self.thermal_state:
            self.publish(Kind.STATE, {"state": f"thermal-{state}", "temp_chip_c": temp})
        self.thermal_state = state

    async def _pause_or_report(self, pause: bool) -> str:
        try:
            return await self._pause_hashing(pause)
        except (ApiError, ActuationUnsupported) as exc:
            return f"{'pausing' if pause else 'resuming'} failed: {exc}"

    async def _safety_send(self, setting: str, value: float) -> None:
        """A protective move (down in heat, up in cooling): bypasses step/settle limits, never the range."""
        r = self.envelope.range_for(setting)
        value = min(max(value, r.low), r.high)
        async with self._act_lock:
            await self._send(setting, value)
            self._settings[setting] = value
            self._changed_at[setting] = self.clock.now()


def _rename(event: Event, device_id: str) -> Event:
    return Event(t_ns=event.t_ns, device=device_id, source=event.source, kind=event.kind, data=event.data)

