"""The long-running daemon: wires devices, Stratum, reservoir, TPF gate, MQTT and Prometheus under supervision.

Lifecycle: validate config (before this module runs) -> state dir + Prometheus (fail fast) -> supervised children
-> READY=1 -> [SIGHUP: RELOADING=1, diff devices, READY=1] -> SIGTERM/SIGINT: STOPPING=1, stop devices, flush
recordings and state, publish offline, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec

from asicrc.drivers.clock import Clock
from asicrc.drivers.device import Device, SafetyEnvelope
from asicrc.drivers.events import FanOut, Kind
from asicrc.drivers.pacer import PollPacer
from asicrc.drivers.registry import MODELS
from asicrc.drivers.sim import SimMiner
from asicrc.drivers.stratum.lbry import LBRY_DIFF_MULTIPLIER
from asicrc.reservoir.tpf.gate import TpfGate

from . import config as config_mod
from . import gcpolicy, nodeid, wiring
from .aio import raise_if_cancelled
from .api import Api, RequestError
from .config import Config, ConfigError, DeviceConfig
from .experiments import ExperimentError, Experiments
from .experiments import Limits as ExperimentLimits
from .fleetstate import TWO_32, FleetState
from .gcpause import GcPauses
from .metrics import VERSION, exposition
from .metrics_http import MetricsServer
from .mqtt import MqttBridge
from .sdnotify import Notifier
from .statefile import SavedIdentity, atomic_write_json, load_state, resolve_state_dir
from .supervisor import Supervisor

log = logging.getLogger("asicrc.daemon")

REFRESH_S = 0.5  # event folding and snapshot rebuild period; also the loop-lag probe
REFRESH_BUDGET = 0.02  # the snapshot rebuild may take at most this fraction of a core ...
REFRESH_MAX_S = 5.0  # ... but the snapshot is never older than this
STOP_GRACE_S = 8.0  # per stage of the shutdown


class Daemon:
    def __init__(self, cfg: Config, config_path: str | None, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.node_id = cfg.node_id
        self.instance = uuid.uuid4().hex  # tells this process's retained info apart from another's (nodeid.py)
        self.gc = GcPauses()  # collector pauses stall the loop: measured, shown in status (gcpause.py)
        self.notifier = notifier or Notifier()
        self.clock = Clock(cfg.node.clock_speed)
        self.fanout = FanOut()
        self.pacer = PollPacer(cfg.node.max_polls_in_flight)  # shared by every polled device (drivers/pacer.py)
        self.fleet = FleetState(self.node_id, now_ns=self.clock.now_ns, poll_interval_s=cfg.node.poll_interval_s)
        self.devices: dict[str, Device] = {}
        self.device_configs: dict[str, DeviceConfig] = {}
        self.state_dir = resolve_state_dir(cfg.node.state_dir)
        self.identities: dict[str, Any] = {}
        self.stratum: wiring.StratumHandle | None = None
        self.stratum_lbry: wiring.StratumHandle | None = None  # the LB-Box mines LBRY on its own pool
        self.reservoir: wiring.ReservoirHandle | None = None
        self.tpf_gate: TpfGate | None = None
        self.bridge: MqttBridge | None = None
        self.metrics: MetricsServer | None = None
        self.api = Api(self, cfg.mqtt.allow_commands, rate_per_s=cfg.mqtt.command_rate_per_s)
        self.experiments = Experiments(self.state_dir, ExperimentLimits(cfg.experiments.max_steps_x_seeds,
                                                                        cfg.experiments.max_speed))
        self._stop = asyncio.Event()
        self._events = self.fanout.subscribe(maxsize=50_000)  # folded into self.fleet on every refresh tick
        self._sup: Supervisor | None = None
        self._last_tick = 0.0
        self._identities_dirty = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._reload_lock = asyncio.Lock()  # two SIGHUPs in a row must not diff devices concurrently

    # ---- start-up ------------------------------------------------------------------------------------------
    def _prepare_state_dir(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            probe = self.state_dir / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise OSError(f"state directory {self.state_dir} is not writable: {exc.strerror or exc}") from None
        saved: dict[str, SavedIdentity] = load_state(self.state_dir / "identities.json", dict[str, SavedIdentity],
                                                     {}, "saved identities")
        self.identities = {dev: msgspec.structs.asdict(ident) for dev, ident in saved.items()}

    async def _ensure_node_free(self) -> None:
        await nodeid.ensure_node_free(self.cfg.mqtt, self.node_id, self.instance)

    async def run(self) -> int:
        self._prepare_state_dir()
        if self.cfg.mqtt.enabled:
            try:  # before anything starts: a second daemon with this node id refuses here (exit 1)
                await self._ensure_node_free()
            except aiomqtt.MqttError as exc:
                log.debug("node id check skipped, broker not reachable: %s", exc)
        if self.cfg.prometheus.enabled:
            expo = exposition(self.fleet.snapshot)
            self.metrics = MetricsServer(expo, self.cfg.prometheus.host, self.cfg.prometheus.port,
                                         prepare=expo.prepare)
            self.metrics.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))
        self.gc.install()
        try:
            async with asyncio.TaskGroup() as tg:
                self._sup = Supervisor(tg)
                await self._start_pieces(tg)
                await self._stop.wait()
                await self._shutdown()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if self.metrics is not None:
                self.metrics.stop()
            self.gc.uninstall()
        log.info("stopped")
        return 0

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    async def _start_pieces(self, tg: asyncio.TaskGroup) -> None:
        assert self._sup is not None
        self._tasks.append(tg.create_task(self._refresh_loop(), name="refresh"))
        if self.cfg.stratum.enabled:
            self.stratum = await self._start_pool(lbry=False)
            if any(MODELS[dc.model].pool == "lbry" and dc.enabled for dc in self.cfg.devices):
                self.stratum_lbry = await self._start_pool(lbry=True)
        if self.cfg.tpf.enabled:
            self.tpf_gate = wiring.make_tpf_gate()
        if self.cfg.reservoir.enabled:
            record_dir = self._recording_dir()
            self.reservoir = wiring.make_reservoir(self.cfg.reservoir, self.fanout, self.clock, record_dir,
                                                   devices=self.device_configs.keys)
            self._sup.start("reservoir", self.reservoir.run)
        for dc in self.cfg.devices:
            if dc.enabled:
                self._start_device(dc)
        if self.cfg.mqtt.enabled:
            self.bridge = MqttBridge(self.cfg.mqtt, self.node_id, self.api, self.fanout, self.fleet.snapshot,
                                     self.info, before_reconnect=self._ensure_node_free)
            self._sup.start("mqtt", self.bridge.run)
        else:
            log.info("mqtt: disabled in config ([mqtt] enabled = false)")
        self._refresh()
        if self.notifier.watchdog_interval_s:
            self._tasks.append(tg.create_task(self._watchdog_loop(), name="watchdog"))
        gcpolicy.configure()
        gcpolicy.settle()
        self.notifier.ready(self._status_line())
        log.info("asicrc %s running as node %r with %d device(s); state in %s", VERSION, self.node_id,
                 len(self.device_configs), self.state_dir)

    async def _start_pool(self, lbry: bool) -> wiring.StratumHandle | None:
        kind = "LBRY pool" if lbry else "pool"
        try:
            handle = await wiring.start_stratum(self.cfg.stratum, self.fanout, self.clock, lbry=lbry,
                                                devices=[dc for dc in self.cfg.devices if dc.enabled])
        except (OSError, ValueError) as exc:
            log.error("stratum: built-in %s not started: %s; simulated devices will not mine", kind, exc)
            return None
        host, port = handle.address
        log.info("stratum: built-in %s listening on %s:%d", kind, host, port)
        return handle

    def _pool_for(self, dc: DeviceConfig) -> wiring.StratumHandle | None:
        return self.stratum_lbry if MODELS[dc.model].pool == "lbry" else self.stratum

    def _recording_dir(self) -> str | None:
        if not self.cfg.recording.enabled:
            return None
        path = Path(self.cfg.recording.dir) if self.cfg.recording.dir else self.state_dir / "recordings"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)

    # ---- devices -------------------------------------------------------------------------------------------
    def _start_device(self, dc: DeviceConfig) -> None:
        assert self._sup is not None
        self.device_configs[dc.id] = dc
        st = self.fleet.add_device(dc.id, dc.model, dc.transport)

        def restarted(count: int, error: str) -> None:
            st.restarts = count
            st.state = "restarting"
            st.up = False
            st.last_fault = error

        self._sup.start(f"device:{dc.id}", lambda: self._device_main(dc), on_restart=restarted)

    async def _stop_device(self, device_id: str) -> None:
        assert self._sup is not None
        await self._sup.stop(f"device:{device_id}", timeout_s=STOP_GRACE_S)
        self.device_configs.pop(device_id, None)

    async def _device_main(self, dc: DeviceConfig) -> None:
        st = self.fleet.add_device(dc.id, dc.model, dc.transport)
        if MODELS[dc.model].pool == "lbry":
            st.hashes_per_difficulty = TWO_32 / LBRY_DIFF_MULTIPLIER
        sim: SimMiner | None = None
        device: Device | None = None
        try:
            if dc.transport == "sim":
                pool = self._pool_for(dc)
                sim = await wiring.start_sim(dc, self.clock, pool.address if pool else None)
                st.hash_scale = float(sim.hash_scale)
            device = wiring.create_driver(dc, self.fanout, self.clock, self.cfg.node.poll_interval_s, sim,
                                          self._pool_for(dc), pacer=self.pacer)
            await device.start()
            raise_if_cancelled()
            self.devices[dc.id] = device
            await self._poll_forever(dc, device)
        finally:
            self.devices.pop(dc.id, None)
            st.up = False
            if device is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(device.stop(), STOP_GRACE_S)
            if sim is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sim.stop(), STOP_GRACE_S)

    def _unavailable(self, dc: DeviceConfig, why: str) -> None:
        log.error("device %s: not started: %s", dc.id, why)
        st = self.fleet.devices.get(dc.id)
        if st is not None:
            st.state = "unavailable"
            st.last_fault = why

    def _setpoints(self, dc: DeviceConfig, device: Device) -> list[tuple[str, float, Any]]:
        pairs = (("frequency_mhz", dc.frequency_mhz, device.set_frequency),
                 ("core_voltage_mv", dc.core_voltage_mv, device.set_core_voltage),
                 ("fan_percent", dc.fan_percent, device.set_fan),
                 ("difficulty", dc.difficulty, device.set_difficulty))
        return [(name, value, fn) for name, value, fn in pairs if value is not None]

    async def _apply_setpoints(self, dc: DeviceConfig, pending: list[tuple[str, float, Any]],
                               warned: set[str]) -> None:
        """Try each configured setpoint that is not applied yet; the device's envelope may refuse it for now
        (step size from an unknown present value, settle time, heat) or the pool link may not be up yet."""
        for item in list(pending):
            name, value, fn = item
            try:
                await fn(value)
            except Exception as exc:  # retried next poll; a driver error must not restart the device task
                if name not in warned:
                    log.warning("device %s: setpoint %s=%g not applied yet (will retry): %s", dc.id, name, value,
                                exc)
                    warned.add(name)
                continue
            pending.remove(item)
            log.info("device %s: setpoint %s=%g applied", dc.id, name, value)

    async def _poll_forever(self, dc: DeviceConfig, device: Device) -> None:
        """Apply the configured setpoints (retried once per poll interval until the envelope and the link accept
        them), then wait for cancellation. The driver polls on its own paced timer; poll success, timing and
        the telemetry come from its events (FleetState.apply), so this task does nothing per poll: a fleet of
        thousands would otherwise pay a task wake-up per device and interval for nothing."""
        pending = self._setpoints(dc, device)
        warned: set[str] = set()
        while pending:
            raise_if_cancelled()
            await self._apply_setpoints(dc, pending, warned)
            if pending:
                await self.clock.sleep(self.cfg.node.poll_interval_s)
        await asyncio.get_running_loop().create_future()  # never resolved: this device runs until stopped

    # ---- event folding, snapshot, watchdog --------------------------------------------------------------------
    def _fold_events(self) -> None:
        """Apply the events that arrived since the last tick (on the loop, once per tick rather than one task
        wake-up per event: a polled fleet of thousands publishes a thousand events a second)."""
        for ev in self._events.get_nowait_all():
            self.fleet.apply(ev)
            if str(ev.kind) == Kind.STATE and ev.data.get("state") == "online" and ev.data.get("serial"):
                ident = {k: ev.data.get(k) for k in ("model", "serial", "firmware", "chips")}
                if self.identities.get(ev.device) != ident:
                    self.identities[ev.device] = ident
                    self._identities_dirty = True

    def _refresh(self) -> None:
        self._fold_events()
        self.fleet.refresh()

    async def _refresh_loop(self) -> None:
        """Every REFRESH_S: fold events, probe loop lag, save identities. The snapshot is rebuilt on the same
        tick unless its last rebuild cost more than REFRESH_BUDGET of a core at this rate: with tens of thousands
        of devices it is then rebuilt less often (at least every REFRESH_MAX_S), never eating the poll budget."""
        loop = asyncio.get_running_loop()
        last_state_write = 0.0
        next_rebuild = 0.0
        while True:
            before = loop.time()
            await asyncio.sleep(REFRESH_S)
            now = loop.time()
            self._last_tick = now
            self.fleet.extra["loop_lag_s"] = max(0.0, now - before - REFRESH_S)
            self._fold_events()
            if now >= next_rebuild:
                cpu0 = time.thread_time()
                self._update_extra()
                self.fleet.refresh()
                cost = time.thread_time() - cpu0
                next_rebuild = now + min(REFRESH_MAX_S, max(REFRESH_S, cost / REFRESH_BUDGET)) - REFRESH_S / 2
                self.fleet.extra["snapshot_rebuild_s"] = cost
            if self._identities_dirty and now - last_state_write > 5.0:
                self._save_state()
                last_state_write = now

    def _update_extra(self) -> None:
        self.fleet.extra["fanout"] = {"published": self.fanout.published, "dropped": self.fanout.dropped}
        self.fleet.extra["mqtt"] = {"connected": bool(self.bridge and self.bridge.connected),
                                    "enabled": self.cfg.mqtt.enabled}
        pools = [p for p in (self.stratum, self.stratum_lbry) if p is not None]
        if pools:
            with contextlib.suppress(Exception):
                stats = [p.stats() for p in pools]
                self.fleet.extra["stratum"] = {k: sum(st.get(k, 0) for st in stats) for k in stats[0]}
        if self.tpf_gate is not None:
            with contextlib.suppress(Exception):
                self.fleet.extra["tpf"] = self.tpf_gate.state()
        res: dict[str, Any] = {}
        if self.reservoir is not None:
            with contextlib.suppress(Exception):
                res.update(self.reservoir.report())
        narma = self.experiments.last_result("narma")
        if narma and narma.get("nrmse") is not None:
            res.setdefault("nrmse", narma["nrmse"])
            res.setdefault("task", narma.get("task", "narma10"))
        self.fleet.extra["reservoir"] = res

    async def _watchdog_loop(self) -> None:
        interval = self.notifier.watchdog_interval_s or 15.0
        loop = asyncio.get_running_loop()
        while True:
            # Liveness, not just a running loop: the snapshot refresh must have made progress recently.
            if loop.time() - self._last_tick < max(3 * REFRESH_S, interval):
                self.notifier.watchdog()
            await asyncio.sleep(interval)

    def _save_state(self) -> None:
        try:
            atomic_write_json(self.state_dir / "identities.json", self.identities)
            self._identities_dirty = False
        except OSError as exc:
            log.error("state: cannot write %s: %s", self.state_dir / "identities.json", exc)

    # ---- reload and stop -------------------------------------------------------------------------------------
    async def reload(self) -> None:
        async with self._reload_lock:
            if not self._stop.is_set():
                await self._reload()

    async def _reload(self) -> None:
        self.notifier.reloading()
        try:
            new = config_mod.load(self.config_path)
        except ConfigError as exc:
            log.error("reload rejected, keeping the running config: %s", exc)
            self.notifier.ready(self._status_line())
            return
        if new.node_id != self.node_id:
            log.warning("reload: node.id changes need a restart; keeping %r", self.node_id)
        old = self.cfg
        sections = (("mqtt", new.mqtt == old.mqtt), ("prometheus", new.prometheus == old.prometheus),
                    ("stratum", new.stratum == old.stratum), ("reservoir", new.reservoir == old.reservoir),
                    ("tpf", new.tpf == old.tpf), ("recording", new.recording == old.recording),
                    ("experiments", new.experiments == old.experiments))
        for section, unchanged in sections:
            if not unchanged:
                log.warning("reload: changes to [%s] need a restart; keeping the running values", section)
        wanted = {dc.id: dc for dc in new.devices if dc.enabled}
        for dev_id in list(self.device_configs):
            if dev_id not in wanted or wanted[dev_id] != self.device_configs[dev_id]:
                log.info("reload: stopping device %s", dev_id)
                await self._stop_device(dev_id)
                if dev_id not in wanted:
                    self.fleet.remove_device(dev_id)
        for dev_id, dc in wanted.items():
            if dev_id not in self.device_configs:
                log.info("reload: starting device %s (%s via %s)", dev_id, dc.model, dc.transport)
                self._start_device(dc)
        self.cfg.devices = new.devices
        for pool in (self.stratum, self.stratum_lbry):
            if pool is not None:
                await wiring.refresh_stratum_workers(pool, self.cfg.stratum, wanted.values())
        self._refresh()
        if self.bridge is not None:
            self.bridge.state_changed()
        gcpolicy.settle()
        self.notifier.ready(self._status_line())
        log.info("reload: done, %d device(s)", len(self.device_configs))

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("stop requested")
            self.notifier.stopping("stopping")
            self._stop.set()

    async def _shutdown(self) -> None:
        assert self._sup is not None
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await self.experiments.stop_all()
        await asyncio.gather(*(self._stop_device(dev_id) for dev_id in list(self.device_configs)))
        log.debug("shutdown: devices stopped after %.2f s", loop.time() - t0)
        if self.reservoir is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.reservoir.stop(), STOP_GRACE_S)  # flushes recordings
            await self._sup.stop("reservoir")
        self._fold_events()  # the last identities and states before they are saved and published
        self._save_state()
        self._update_extra()
        self.fleet.refresh()
        mqtt_child = self._sup.children.get("mqtt")
        if self.bridge is not None and mqtt_child is not None and mqtt_child.task is not None:
            self.bridge.stop()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(mqtt_child.task), STOP_GRACE_S)
        log.debug("shutdown: mqtt done after %.2f s", loop.time() - t0)
        await self._sup.stop_all()
        for pool in (self.stratum, self.stratum_lbry):
            if pool is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pool.stop(), STOP_GRACE_S)
        log.debug("shutdown: pools stopped after %.2f s", loop.time() - t0)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        log.debug("shutdown: done after %.2f s", loop.time() - t0)

    # ---- Controller (what request handlers see) ---------------------------------------------------------------
    def _status_line(self) -> str:
        snap = self.fleet.snapshot() or {}
        devs = snap.get("devices", {})
        up = sum(1 for d in devs.values() if d.get("up"))
        return f"{up}/{len(devs)} devices up"

    def info(self) -> dict[str, Any]:
        return {"node": self.node_id, "instance": self.instance, "version": VERSION, "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_unix": self.fleet.started_unix, "devices": sorted(self.device_configs),
                "prometheus_port": self.metrics.port if self.metrics else None}

    def status(self) -> dict[str, Any]:
        snap = self.fleet.snapshot()
        return {
            **self.info(),
            "uptime_s": time.time() - self.fleet.started_unix,
            "config": self.config_path or "<embedded default>",
            "state_dir": str(self.state_dir),
            "mqtt": {"enabled": self.cfg.mqtt.enabled, "connected": bool(self.bridge and self.bridge.connected),
                     "connects": self.bridge.connects if self.bridge else 0,
                     "selfcheck_failures": self.bridge.selfcheck_failures if self.bridge else 0},
            "stratum": ({"address": list(self.stratum.address),
                         "lbry_address": list(self.stratum_lbry.address) if self.stratum_lbry else None,
                         **snap.get("stratum", {})} if self.stratum else None),
            "reservoir": snap.get("reservoir", {}) if self.reservoir else None,
            "tpf": snap.get("tpf") if self.tpf_gate is not None else None,
            "loop_lag_s": snap.get("loop_lag_s"),
            "experiments": self.experiments.status(),
            "gc": self.gc.stats(),
            "devices": {k: {"model": d["model"], "transport": d["transport"], "state": d["state"], "up": d["up"],
                            "restarts": d["restarts"], "last_fault": d["last_fault"]}
                        for k, d in snap.get("devices", {}).items()},
        }

    def device_list(self) -> list[dict[str, Any]]:
        snap = self.fleet.snapshot().get("devices", {})
        out = []
        for dev_id, dc in sorted(self.device_configs.items()):
            d = snap.get(dev_id, {})
            dev = self.devices.get(dev_id)
            env = dev.envelope if dev is not None else None
            out.append({"device": dev_id, "model": dc.model, "transport": dc.transport, "state": d.get("state"),
                        "up": d.get("up", False), "identity": d.get("identity", {}),
                        "saved_identity": self.identities.get(dev_id),
                        "envelope": _envelope_dict(env) if env is not None else None})
        return out

    def snapshot(self) -> dict[str, Any]:
        return self.fleet.snapshot()

    def get_device(self, device_id: str) -> Device:
        dev = self.devices.get(device_id)
        if dev is None:
            known = ", ".join(sorted(self.devices)) or "none running"
            raise RequestError(f"unknown or not running device {device_id!r}; running: {known}")
        return dev

    def reservoir_report(self) -> dict[str, Any]:
        return {"stream": self.reservoir.report() if self.reservoir else None,
                "narma": self.experiments.last_result("narma"),
                "experiments": self.experiments.status()}

    def tpf_state(self) -> dict[str, Any]:
        if self.tpf_gate is None:
            raise RequestError("the TPF gate is not running on this node ([tpf] enabled = false or unavailable)")
        return dict(self.tpf_gate.state())

    async def start_experiment(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        opts = {k: v for k, v in params.items() if k != "name"}
        try:
            return await self.experiments.start(name, opts)
        except ExperimentError as exc:
            raise RequestError(str(exc)) from None

    async def stop_experiment(self, name: str) -> dict[str, Any]:
        try:
            return await self.experiments.stop(name)
        except ExperimentError as exc:
            raise RequestError(str(exc)) from None


def _envelope_dict(env: SafetyEnvelope) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, r in (("frequency_mhz", env.frequency_mhz), ("core_voltage_mv", env.core_voltage_mv),
                   ("fan_percent", env.fan_percent)):
        out[key] = {"low": r.low, "high": r.high, "max_step": r.max_step, "settle_s": r.settle_s}
    out["thermal_throttle_c"] = env.thermal_throttle_c
    out["thermal_stop_c"] = env.thermal_stop_c
    return out
