"""Drive a (simulated) mining device with u(t) and record what a host could see: Stratum shares and API telemetry.

Per run, in-process on 127.0.0.1 and on one shared, sped-up ``Clock`` (assembled by asicrc.drivers.rig):
  StratumServer (asicrc.drivers.stratum) <- TCP -> simulated miner (asicrc.drivers.sim)
  model Device (asicrc.drivers.models) polling the simulator's management API, actuating through the model's
  SafetyEnvelope (frequency / voltage); share difficulty and job content go through the Stratum server's hooks.
The reservoir subscribes to the one FanOut that server and Device publish on; sim-internal truth (the simulator's
own event stream, chip ids, exact temperatures) is not recorded, because real hardware does not offer it.

Time: by default a run is on virtual time: the whole rig runs on its own asicrc.drivers.vtime.VirtualTimeLoop
(in a worker thread, so runs driven at once never share a loop), whose clock jumps to the next timer when
nothing is runnable and whose loopback network is in memory. A run then takes as long as its CPU work, and the
same seed records the same run, bit for bit. With ``virtual_time=False`` it runs on ``Clock(speed)`` against the
wall: one simulated second lasts 1/speed wall seconds. Step boundaries are taken on the run's clock after each
actuation is sent, so when the host falls behind (wall clock only), windows get longer and the recorded
boundaries say so (``max_lateness_s`` in the run metadata).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import weakref
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from asicrc.drivers.clock import Clock
from asicrc.drivers.device import SafetyEnvelope
from asicrc.drivers.events import Event, Subscription
from asicrc.drivers.rig import Rig, RigOptions
from asicrc.drivers.stratum.jobs import TemplateJobSource
from asicrc.drivers.vtime import VirtualTimeLoop, run_virtual

from .backend_api import SIM_MODELS, BackendOptions, ProgressFn
from .encoding import KNOB_ENCODINGS, KNOB_SETTINGS, U_CONST, U_MAX, Actuation, EncoderConfig, InputEncoder
from .eventcols import events_to_columns
from .features import HASH_KINDS, extract_features
from .recording import RunRecord

F64 = npt.NDArray[np.float64]
RECORDED_KINDS = {"share", "nonce", "telemetry", "fault", "state"}
JOB_TAG = b"/asicrc/"
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class SimSettings:
    search_rate_hs: float = 2000.0  # real sha256d per simulated second (the sim rescales to the modelled rate)
    physics_tick_sim_s: float = 0.1  # simulated seconds per physics tick (actuation latency resolution)
    shares_per_step: float = 8.0  # sets D_base when none is given: expected shares per step at mean u
    connect_timeout_s: float = 30.0  # wall seconds to wait for the miner to connect and report telemetry


class SimRig(Rig):
    """The rig of one run (asicrc.drivers.rig.Rig: StratumServer + simulated miner + model Device, one FanOut and
    Clock) and how the reservoir actuates it; an async context manager."""

    def __init__(self, model: str, seed: int, clock: Clock, settings: SimSettings) -> None:
        if model not in SIM_MODELS:
            raise ValueError(f"no simulated model {model!r} (choose from {', '.join(SIM_MODELS)})")
        tick_wall = settings.physics_tick_sim_s / clock.speed
        super().__init__(model, seed=seed, clock=clock, serial=f"RC-{model.upper()}-{seed:04d}",
                         options=RigOptions(sim={"search_rate_hs": settings.search_rate_hs, "tick_s": tick_wall},
                                            connect_timeout_s=settings.connect_timeout_s,
                                            stop_timeout_s=STOP_TIMEOUT_S))
        self.settings = settings
        self._changed_at: dict[str, float] = {}  # clock time each knob last changed (after the device accepted)

    @property
    def envelope(self) -> SafetyEnvelope:
        return self.device.envelope

    @property
    def share_hashrate_hs(self) -> float:
        """The hash rate that shares are actually drawn from. The simulator hashes for real at
        expected_hashrate / hash_scale, so Stratum difficulties are in those scaled units (a real device at
        the modelled hashrate would need difficulty × hash_scale for the same share rate; meta records both)."""
        return float(self.sim.physics.expected_hashrate_hs) / float(self.sim.hash_scale)

    async def apply(self, act: Actuation) -> None:
        if act.difficulty is not None:
            # share difficulty heats nothing: the Stratum server's per-connection hook, a fresh job follows
            self.server.set_difficulty(self.conn_id, act.difficulty, new_job=True, clean=True)
        if act.job_payload is not None:
            source = self.server.job_source
            if not isinstance(source, TemplateJobSource):  # the rig's pool makes its own template jobs
                raise TypeError(f"job encoding needs the pool's template jobs, not {type(source).__name__}")
            source.tag = JOB_TAG + act.job_payload
            self.server.push_job(self.conn_id, clean=True)
        if act.frequency_mhz is not None:
            await self._settle("frequency_mhz")
            await self.device.set_frequency(act.frequency_mhz)  # SafetyEnvelope-checked
            self._changed_at["frequency_mhz"] = self.clock.now()
        if act.core_voltage_mv is not None:
            await self._settle("core_voltage_mv")
            await self.device.set_core_voltage(act.core_voltage_mv)
            self._changed_at["core_voltage_mv"] = self.clock.now()
        if act.fan_percent is not None:
            await self._settle("fan_percent")
            await self.device.set_fan(act.fan_percent)  # SafetyEnvelope-checked; the driver turns auto-fan off
            self._changed_at["fan_percent"] = self.clock.now()

    async def _settle(self, setting: str) -> None:
        """Wait out the rest of the envelope's settle time: a step period equal to it can wake a little early."""
        last = self._changed_at.get(setting)
        if last is not None:
            await self.clock.sleep(self.envelope.range_for(setting).settle_s - (self.clock.now() - last) + 1e-3)

    async def present_knob(self, encoding: str) -> float:
        """Present frequency (MHz), core voltage (mV) or fan setpoint (%): the setting the envelope checks steps
        against (for voltage the setpoint, not the sensed core voltage, which reads ~1.5 % low on the LV06)."""
        setting = self.device.setting(KNOB_SETTINGS[encoding])
        if setting is not None:
            return setting
        tel = await self.device.telemetry()
        key, scale = {"frequency": ("frequency_hz", 1e-6), "voltage": ("core_voltage_v", 1e3),
                      "fan": ("fan_percent", 1.0)}[encoding]
        value = tel.get(key)
        if not isinstance(value, int | float):
            raise ValueError(f"{self.model} does not report {key}; cannot modulate {encoding} safely")
        return float(value) * scale

    def identity(self) -> dict[str, Any]:
        ident = self.device.identity
        return {"device": ident.device_id, "model": ident.model, "firmware": ident.firmware, "serial": ident.serial,
                "chips": ident.chips, "sim_hash_scale": float(self.sim.hash_scale)}


def auto_d_base(hashrate_hs: float, step_s: float, shares_per_step: float, eps: float) -> float:
    """D_base giving `shares_per_step` expected shares per step at the mean of (u + eps), u ~ U[0, 0.5]."""
    mean_rate_factor = U_MAX / 2 + eps
    return hashrate_hs * step_s * mean_rate_factor / (2.0**32 * shares_per_step)


@dataclass(slots=True)
class _Recorder:
    sub: Subscription
    events: list[Event] = field(default_factory=list)

    def drain(self) -> list[Event]:
        batch = self.sub.get_nowait_all()
        self.events.extend(batch)
        return batch


class SimDeviceBackend:
    """``sim:<model>``: drive a simulated device through the same code path a real one uses."""

    def __init__(self, model: str, options: BackendOptions, settings: SimSettings | None = None) -> None:
        if model not in SIM_MODELS:
            raise ValueError(f"no simulated model {model!r} (choose from {', '.join(SIM_MODELS)})")
        self.model = model
        self.name = f"sim:{model}"
        self.options = options
        self.settings = settings or SimSettings()
        if options.physics_tick_s is not None:
            self.settings = replace(self.settings, physics_tick_sim_s=options.physics_tick_s)

    async def drive(self, u: F64, target: F64, mode: str, seed: int,
                    progress: ProgressFn | None = None) -> RunRecord:
        loop = asyncio.get_running_loop()
        if isinstance(loop, VirtualTimeLoop):  # already on virtual time (a sweep, a test): run right here
            return await self._drive(u, target, mode, seed, loop.clock, progress)
        if not self.options.virtual_time:
            return await self._drive(u, target, mode, seed, Clock(self.options.clock_speed), progress)
        workers = virtual_workers(self.options)
        if workers > 1:  # CPU-bound on virtual time: up to one run per core, each in its own worker process
            return await _in_worker_process(workers, self, u, target, mode, seed, progress)

        def report(n: int) -> None:  # from the run's thread to this loop's progress bar
            if progress is not None:
                loop.call_soon_threadsafe(progress, n)

        return await asyncio.to_thread(_drive_virtual, self, u, target, mode, seed, report)

    async def _drive_here(self, u: F64, target: F64, mode: str, seed: int,
                          progress: ProgressFn | None) -> RunRecord:
        """The run on the running VirtualTimeLoop."""
        vloop = asyncio.get_running_loop()
        assert isinstance(vloop, VirtualTimeLoop)
        return await self._drive(u, target, mode, seed, vloop.clock, progress)

    async def _drive(self, u: F64, target: F64, mode: str, seed: int, clock: Clock,
                     progress: ProgressFn | None) -> RunRecord:
        opts = self.options
        V = opts.encoder.virtual_nodes
        sub_s = opts.step_s / V
        async with SimRig(self.model, seed, clock, self.settings) as rig:
            cfg: EncoderConfig = replace(opts.encoder, mode=mode)
            if cfg.d_base is None:  # auto: the same expected share count per step on every model
                cfg = replace(cfg, d_base=auto_d_base(rig.share_hashrate_hs, opts.step_s,
                                                      self.settings.shares_per_step, cfg.eps))
            encoder = InputEncoder(cfg, envelope=rig.envelope, sub_period_s=sub_s)
            if cfg.encoding in KNOB_ENCODINGS:
                encoder.start_from(await rig.present_knob(cfg.encoding))
            if cfg.encoding != "difficulty" and cfg.d_base is not None:
                # other knobs carry u; the share difficulty stays at the constant-input operating point
                await rig.apply(Actuation(difficulty=cfg.d_base / (cfg.u_const + cfg.eps)))
            if mode == "dialogue":
                rig.server.set_handshake_mode(rig.conn_id, True)
            rec = _Recorder(rig.fanout.subscribe(maxsize=1_000_000, kinds=RECORDED_KINDS))
            timing = await _step_loop(rig, encoder, u, V, sub_s, rec, progress)
            meta = {"backend": self.name, **rig.identity(), "mode": mode, "seed": seed,
                    "encoder": asdict(cfg), "envelope": asdict(rig.envelope),
                    "d_base_real_equivalent": (cfg.d_base or 0.0) * float(rig.sim.hash_scale),
                    "step_s": opts.step_s, "clock": "virtual" if clock.virtual else "wall",
                    "clock_speed": None if clock.virtual else opts.clock_speed, "virtual_nodes": V,
                    "chip_bins": 8, "feature_source": "events", "fanout_dropped": rec.sub.dropped,
                    "max_lateness_s": timing.max_lateness_s, "schedule_reanchored": timing.reanchored,
                    "sim": {"search_rate_hs": self.settings.search_rate_hs,
                            "physics_tick_sim_s": self.settings.physics_tick_sim_s},
                    "u_const": U_CONST}
            rec.sub.close()
        bounds = timing.bounds_ns
        cols = events_to_columns(rec.events)
        fm = extract_features(cols, bounds, V)
        commanded = timing.commanded if timing.commanded.size else np.zeros(0)  # the slew limiter's output
        return RunRecord(u=np.asarray(u, dtype=float), target=np.asarray(target, dtype=float), features=fm.values,
                         feature_names=fm.names, bounds_ns=bounds, events=cols, meta=meta, commanded=commanded)


def virtual_workers(options: BackendOptions) -> int:
    """Worker processes for virtual-time runs: `options.workers`, or (0) one per CPU core, never more than the
    runs driven at once."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(options.workers or cores, options.parallel))


_WORKER_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def _in_worker_process(workers: int, backend: SimDeviceBackend, u: F64, target: F64, mode: str,
                             seed: int, progress: ProgressFn | None) -> RunRecord:
    """One virtual-time run in a process of its own, at most `workers` at once (per calling loop).

    Forked, not spawned: a spawned (or forkserver) worker re-imports the caller's __main__, which a script without
    a main guard does not survive. One process per run, not a reused pool: every run starts from the caller's
    state of the moment (nothing left over from an earlier run can reach it), for ~10 ms of fork. Progress comes
    back through a pipe the worker inherits: one byte per step."""
    loop = asyncio.get_running_loop()
    slots = _WORKER_SLOTS.get(loop)
    if slots is None:
        slots = _WORKER_SLOTS[loop] = asyncio.Semaphore(workers)
    async with slots:
        steps_r, steps_w = os.pipe()
        os.set_blocking(steps_r, False)

        def steps_done() -> None:
            with contextlib.suppress(BlockingIOError):
                n = len(os.read(steps_r, 65536))
                if n and progress is not None:
                    progress(n)

        loop.add_reader(steps_r, steps_done)
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_worker_started,
                                   initargs=(steps_w,))
        try:
            return await loop.run_in_executor(pool, _drive_virtual, backend, u, target, mode, seed, _step_to_pipe)
        finally:
            await asyncio.to_thread(pool.shutdown, True)  # reaped (its CPU time counts as this process's children)
            loop.remove_reader(steps_r)
            steps_done()
            os.close(steps_r)
            os.close(steps_w)


_WORKER_PROGRESS_FD = -1  # in a worker process: where _step_to_pipe writes


def _worker_started(progress_fd: int) -> None:
    global _WORKER_PROGRESS_FD
    _WORKER_PROGRESS_FD = progress_fd


def _step_to_pipe(n: int) -> None:
    if _WORKER_PROGRESS_FD >= 0:
        os.write(_WORKER_PROGRESS_FD, b"." * n)


def _drive_virtual(backend: SimDeviceBackend, u: F64, target: F64, mode: str, seed: int,
                   progress: ProgressFn | None = None) -> RunRecord:
    """One run on a fresh VirtualTimeLoop in the calling thread (a worker thread or process)."""
    return run_virtual(lambda: backend._drive_here(u, target, mode, seed, progress))


@dataclass(slots=True)
class _Timing:
    bounds_ns: npt.NDArray[np.int64]
    commanded: F64  # (T, V): the knob value each sub-window's actuation sent (knob encodings; else empty)
    max_lateness_s: float = 0.0
    reanchored: int = 0


async def _step_loop(rig: SimRig, encoder: InputEncoder, u: F64, V: int, sub_s: float, rec: _Recorder,
                     progress: ProgressFn | None) -> _Timing:
    """Actuate at the start of every sub-window on a fixed schedule; record the true boundaries."""
    clock = rig.clock
    knob = encoder.cfg.encoding in KNOB_ENCODINGS
    timing = _Timing(np.zeros(len(u) * V + 1, dtype=np.int64), np.zeros((len(u), V) if knob else (0, 0)))
    sub_ns = round(sub_s * 1e9)
    # the first actuation sets the operating point; one settle window before recording starts
    await rig.apply(encoder.actuation(float(u[0]), 0))
    await clock.sleep(sub_s)
    rec.drain()
    t0 = clock.now_ns()
    for t in range(len(u)):
        for v in range(V):
            k = t * V + v
            await rig.apply(encoder.actuation(float(u[t]), v))
            if knob and encoder.commanded is not None:
                timing.commanded[t, v] = encoder.commanded  # after slew limiting: what reached the device
            start_ns = clock.now_ns()
            timing.bounds_ns[k] = start_ns
            late_ns = start_ns - (t0 + k * sub_ns)  # how late this window starts against the schedule
            timing.max_lateness_s = max(timing.max_lateness_s, late_ns / 1e9)
            if late_ns > sub_ns // 2:
                # the host stalled (the previous window was stretched; its recorded boundaries say so): shift the
                # schedule so that this window still gets its full length instead of being squeezed to catch up
                t0 += late_ns
                timing.reanchored += 1
            await clock.sleep((t0 + (k + 1) * sub_ns - clock.now_ns()) / 1e9)
        batch = rec.drain()
        start = timing.bounds_ns[t * V]
        encoder.observe(sum(1 for e in batch if str(e.kind) in HASH_KINDS and e.t_ns >= start))
        if progress is not None:
            progress(1)
    timing.bounds_ns[-1] = clock.now_ns()
    rec.drain()
    return timing
