"""The simulated device runtime shared by every model: physics loop, share arrivals, Stratum session, servers.

One asyncio task advances the physics every ``tick_s`` loop seconds by the elapsed *clock* time (so a fast Clock
makes simulated time run faster) and lets the firmware layer count and refresh its API snapshot. Shares are not
decided ahead: their times come from the Poisson process of the modelled hashrate at the current job's
difficulty (nonces.ShareArrivals), re-timed whenever that rate changes (a job or difficulty arrives, a physics
tick, an actuation), and at each share time the nonce is searched on the job the device holds *then*. A clean
job therefore makes old work stale only for the time the notify takes to arrive (plus the firmware's nonce poll
period where a model has one), as on hardware. Model classes (s9.py, lv06.py, lbbox.py) add the management servers
and the Stratum client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import numpy as np

from asicrc.drivers.clock import REAL_TIME, Clock
from asicrc.drivers.events import Event, FanOut, Kind, Source
from asicrc.drivers.seeds import stable_int
from asicrc.drivers.stratum.client import Job, StratumClient

from .faults import Fault, FaultKind, FaultState
from .firmware import Firmware, Snapshot
from .nonces import FoundShare, NonceScanner, ShareArrivals
from .params import SimParams
from .physics import Physics

log = logging.getLogger(__name__)

# sha256d nonces scanned per simulated second at nominal hashrate (LBRY: a tenth, its PoW runs in hashlib).
# Wall CPU grows with the clock speed: pass a smaller search_rate_hs for fast clocks.
DEFAULT_SEARCH_RATE_HS = 20_000.0


class Server(Protocol):
    port: int

    async def start(self) -> int: ...
    async def stop(self) -> None: ...


class SimStratumClient(StratumClient):
    """The project's Stratum client; `drop()` cuts the TCP connection (fault injection) like a pulled cable."""

    def drop(self) -> None:
        # abort, not close: a pulled cable sends no FIN, and the firmware-style auto-reconnect must take over
        self.abort()


class SimMiner:
    """Base of SimS9 / SimLV06 / SimLBBox: the simulated miner hardware. See the package docstring for the API.

    Not a :class:`asicrc.drivers.device.Device`: a Device is the host's driver of a miner; this is the miner at the
    other end of the wire, which a Device reaches only through the protocols (Stratum, HTTP, 4028, UART).
    """

    spec: ClassVar[SimParams]
    firmware_version: ClassVar[str] = ""
    lbry: ClassVar[bool] = False
    hw_ticket_diff: ClassVar[float] = 64.0
    input_voltage_v: ClassVar[float] = 12.0
    # firmware thermal protection: stop hashing above overheat_c (hottest die), resume below it minus hysteresis
    overheat_c: ClassVar[float] = 95.0
    overheat_hysteresis_k: ClassVar[float] = 15.0

    def __init__(
        self,
        serial: str | None = None,
        seed: int = 0,
        clock: Clock = REAL_TIME,
        stratum: tuple[str, int] | None = None,
        ambient_c: float = 25.0,
        *,
        user: str | None = None,
        password: str = "x",
        search_rate_hs: float | None = None,
        tick_s: float = 0.1,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        start_warm: bool = True,
        fanout: FanOut | None = None,
        waits_after_share: bool = False,
    ) -> None:
        if host != "127.0.0.1":
            raise ValueError(f"simulated devices listen on 127.0.0.1 only, got host {host!r}")
        if not tick_s > 0:
            raise ValueError(f"tick_s must be > 0, got {tick_s!r}")
        self.serial = serial or f"{self.spec.name.upper()}-{seed:06d}"
        self.device_id = re.sub(r"[^a-zA-Z0-9_-]", "-", f"sim-{self.spec.name}-{self.serial}")
        self.seed = int(seed)
        self.clock = clock
        self.stratum = stratum
        self.user = user or f"sim.{self.device_id}"
        self.password = password
        self.tick_s = float(tick_s)
        self.host = host
        self._fixed_ports = dict(ports or {})
        self.physics = Physics(self.spec, self.serial, self.seed, ambient_c, start_warm=start_warm)
        self.rng = np.random.default_rng([self.seed & 0xFFFFFFFF, (stable_int(self.serial) + 1) & 0xFFFFFFFF])
        default = DEFAULT_SEARCH_RATE_HS / (10.0 if self.lbry else 1.0)
        rate = search_rate_hs if search_rate_hs is not None else default
        if not rate > 0:
            raise ValueError(f"search_rate_hs must be > 0, got {rate!r}")
        self.search_rate_hs = float(rate)
        self.hash_scale = self.physics.expected_hashrate_hs / self.search_rate_hs
        self.scanner = NonceScanner(self.hash_scale, self.rng, lbry=self.lbry)
        self.arrivals = ShareArrivals(np.random.default_rng([self.seed & 0xFFFFFFFF,
                                                             (stable_int(self.serial) + 3) & 0xFFFFFFFF]))
        self._share_timer: asyncio.TimerHandle | None = None
        # stop-and-wait miner (off by default; no Stratum miner works this way: they roll extranonce2 and keep
        # hashing the job they hold): after each share it stops hashing until the pool sends a new job. The case
        # a "virtual block manager" is meant for (docs/vbm.md); idle_seconds() is the time it spent waiting.
        self.waits_after_share = bool(waits_after_share)
        self._waiting_since: float | None = None
        self._idle_s = 0.0
        self._work_rate = 0.0  # scaled H/s booked by _book_work
        self._work_t = clock.now()
        self.firmware = Firmware(self.spec, self.physics, self.rng, clock.now(), self.hw_ticket_diff,
                                 self.input_voltage_v)
        self.faults = FaultState()
        self.fanout = fanout if fanout is not None else FanOut()
        self.client: SimStratumClient | None = None
        self.state = "stopped"
        self.servers: dict[str, Server] = {}
        self.mac = ":".join(f"{b:02X}" for b in stable_int("mac/" + self.serial).to_bytes(8, "little")[:6])
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_t = clock.now()
        self._reboot_task: asyncio.Task[None] | None = None

    # ---- to be provided by models ------------------------------------------------------------------
    def make_servers(self) -> dict[str, Server]:
        raise NotImplementedError

    def make_client(self, host: str, port: int) -> SimStratumClient:
        raise NotImplementedError

    # ---- lifecycle ---------------------------------------------------------------------------------
    @property
    def ports(self) -> dict[str, int]:
        return {name: srv.port for name, srv in self.servers.items()}

    async def start(self) -> None:
        """Start the servers (returns once they listen), the physics loop and the Stratum session."""
        if self.state != "stopped":
            return
        if not self.servers:
            self.servers = self.make_servers()
        await self._start_servers()
        now = self.clock.now()
        self._last_t = self._work_t = now
        self.firmware.reboot(now)
        self.state = "running"
        self._spawn(self._physics_loop(), "physics")
        if self.stratum is not None:
            self._spawn(self._stratum_loop(), "stratum")
        self._publish(Kind.STATE, {"state": "online", "model": self.spec.name, "serial": self.serial,
                                   "ports": self.ports, "hash_scale": self.hash_scale})

    async def _start_servers(self) -> None:
        for name, srv in self.servers.items():
            if name in self._fixed_ports and srv.port == 0:
                srv.port = self._fixed_ports[name]
            await srv.start()

    async def stop(self) -> None:
        self.state = "stopped"
        tasks = list(self._tasks)
        if self._reboot_task is not None:
            tasks.append(self._reboot_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._close_client()
        for srv in self.servers.values():
            await srv.stop()
        self._publish(Kind.STATE, {"state": "offline"})

    async def _close_client(self) -> None:
        client, self.client = self.client, None
        self.scanner.clear()
        self._retime_shares()
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"{self.device_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def restart(self) -> None:
        """Reboot: management API unreachable and no hashing for spec.reboot_s of clock time."""
        if self.state not in ("running", "overheat"):
            return
        self.state = "rebooting"
        self._reboot_task = asyncio.create_task(self._reboot(), name=f"{self.device_id}-reboot")

    async def _reboot(self) -> None:
        self._publish(Kind.STATE, {"state": "restarting", "gap_s": self.spec.reboot_s})
        await asyncio.sleep(0.2)  # let the HTTP answer to the restart request leave first
        self.physics.hashing = False
        for task in [t for t in self._tasks if t.get_name().endswith("stratum")]:
            task.cancel()
        await self._close_client()
        for srv in self.servers.values():
            await srv.stop()
        await self.clock.sleep(self.spec.reboot_s)
        await self._start_servers()
        self.firmware.reboot(self.clock.now())
        self.physics.hashing = True
        self.state = "running"
        self._retime_shares()
        if self.stratum is not None:
            self._spawn(self._stratum_loop(), "stratum")
        self._publish(Kind.STATE, {"state": "online"})

    # ---- actuation (what the management APIs call) ----------------------------------------------------
    def set_frequency_mhz(self, mhz: float, chips: Any = None) -> None:
        self._book_work()
        self.physics.set_frequency(float(mhz) * 1e6, chips)
        self._retime_shares()

    def set_core_voltage_mv(self, mv: float, chips: Any = None) -> None:
        self.physics.set_voltage(float(mv) / 1000.0, chips)

    def set_fan_percent(self, percent: float | None) -> None:
        self.physics.set_fan(percent)

    def inject(self, fault: Fault) -> None:
        """Apply a physical fault now, or arm a transport fault for the next requests (see faults.py)."""
        kind = fault.kind
        if kind is FaultKind.AMBIENT:
            self.physics.set_ambient(fault.value)
        elif kind is FaultKind.CHIP_DEATH:
            self.physics.kill_chips([fault.target])
        elif kind is FaultKind.CHAIN_DEATH:
            self.physics.kill_chain(fault.target)
        elif kind is FaultKind.FAN_DEATH:
            self.physics.fail_fans()
        elif kind is FaultKind.TCP_DISCONNECT:
            if self.client is not None:
                self.client.drop()
        else:
            self.faults.arm(fault)
        self._publish(Kind.FAULT, {"reason": f"injected:{kind.value}", "detail": repr(fault)})

    # ---- the loops -----------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        return self.firmware.snapshot

    async def _physics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            now = self.clock.now()
            dt = max(0.0, now - self._last_t)
            self._book_work(now)
            self._last_t = now
            self.physics.advance(dt)
            self._thermal_protection()
            snap = self.firmware.tick(now, dt)
            if snap is not None:
                self._publish_telemetry(snap)
            self._retime_shares()  # the chips' rates changed with the physics

    def _thermal_protection(self) -> None:
        hottest = float(self.physics.t_die.max())
        if self.state == "running" and hottest > self.overheat_c:
            self.state = "overheat"
            self.physics.hashing = False
            self.physics.set_fan(100.0)
            self._publish(Kind.FAULT, {"reason": "overheat", "detail": f"die {hottest:.1f} degC > {self.overheat_c}"})
        elif self.state == "overheat" and hottest < self.overheat_c - self.overheat_hysteresis_k:
            self.state = "running"
            self.physics.hashing = True
            self.physics.set_fan(None)
            self._publish(Kind.STATE, {"state": "online", "detail": "recovered from overheat"})

    def _book_work(self, now: float | None = None) -> None:
        """Count the hashes done since the last booking at the rate that held (the exposure of the share rate)."""
        t = self.clock.now() if now is None else now
        self.scanner.work(t - self._work_t, self._work_rate)
        self._work_t = t

    def _retime_shares(self) -> None:
        """The share rate may have changed (job, difficulty, physics, connection, hashing): re-time the next share.

        Exact for a Poisson process whose rate is constant between these calls (nonces.ShareArrivals); no share
        is scanned ahead, so nothing of a replaced job survives its replacement. Shares that fell due while the
        loop was busy (a late timer on a loaded wall clock) are taken first, at the old rate, so none is lost."""
        now = self.clock.now()
        due = self.arrivals.due
        while due is not None and due <= now and self._waiting_since is None:
            self._take_share(due)
            if self._waiting_since is None:
                due = self.arrivals.arrived(due)
        self._book_work(now)
        hashing = (self.client is not None and self.physics.hashing and self.state in ("running", "overheat")
                   and self._waiting_since is None)
        self._work_rate = self.scanner.hash_rate(self.physics) if hashing else 0.0
        rate = self._work_rate * self.scanner.share_probability
        self._schedule_share(self.arrivals.update(now, rate), now)

    def _schedule_share(self, t: float | None, now: float) -> None:
        if self._share_timer is not None:
            self._share_timer.cancel()
            self._share_timer = None
        if t is not None and self.state != "stopped":
            delay = max(0.0, self.clock.wall_seconds(t - now))
            self._share_timer = asyncio.get_running_loop().call_later(delay, self._share_due, t)

    def _share_due(self, t: float) -> None:
        self._share_timer = None
        self._take_share(t)
        if self._waiting_since is None:
            self._schedule_share(self.arrivals.arrived(t), self.clock.now())

    def idle_seconds(self) -> float:
        """Simulated seconds a stop-and-wait miner has spent waiting for work (0 for a Stratum miner)."""
        open_gap = self.clock.now() - self._waiting_since if self._waiting_since is not None else 0.0
        return self._idle_s + max(0.0, open_gap)

    def _take_share(self, t: float) -> None:
        """A share is found at t: search its nonce on the job held now, submit it (after the firmware's poll)."""
        share = self.scanner.find(t, self.physics) if self.client is not None else None
        if share is None:
            return
        if self.waits_after_share:  # stop-and-wait: this share ends the job's work until a new job arrives
            self._book_work(max(t, self._work_t))
            self._work_rate = 0.0
            self.arrivals.arrived(t)  # the next share's work, to be done once hashing resumes
            self.arrivals.update(t, 0.0)
            self._schedule_share(None, t)
            self._waiting_since = t
        poll = self.spec.share_poll_s
        due = math.ceil(t / poll) * poll if poll > 0 else t
        now = self.clock.now()
        if due > now:
            asyncio.get_running_loop().call_later(self.clock.wall_seconds(due - now), self._submit_soon, share)
        else:
            self._submit_soon(share)

    def _submit_soon(self, share: FoundShare) -> None:
        if self.client is not None and self.state in ("running", "overheat"):
            self._spawn(self._submit(self.client, share), "submit")

    async def _submit(self, client: SimStratumClient, share: FoundShare) -> None:
        counters = self.firmware.counters
        counters.submitted += 1
        try:
            res = await client.submit(share.job.job_id, share.extranonce2, share.ntime, share.nonce,
                                      share.version_bits)
        except (ConnectionError, OSError, TimeoutError) as exc:
            self._publish(Kind.FAULT, {"reason": "submit-failed", "detail": str(exc)})
            return
        verdict = "accepted" if res.accepted else (res.message or "rejected")
        if res.accepted:
            counters.accepted += 1
            counters.difficulty_accepted += share.job.difficulty
            counters.last_share_t_s = self.clock.now()
        else:
            counters.rejected += 1
            counters.reject_reasons[verdict] = counters.reject_reasons.get(verdict, 0) + 1
        counters.best_difficulty = max(counters.best_difficulty, share.difficulty)
        self._publish(Kind.SHARE, {
            "job_id": share.job.job_id, "assigned_diff": share.job.difficulty, "achieved_diff": share.difficulty,
            "nonce": share.nonce, "version_bits": share.version_bits or 0, "verdict": verdict,
            "error_code": res.error_code, "worker": self.user, "connection": 0, "chip": share.chip,
            "found_t_s": share.t_s,
        })

    def _on_job(self, job: Job) -> None:
        if self._waiting_since is not None:  # stop-and-wait: work again
            self._idle_s += max(0.0, self.clock.now() - self._waiting_since)
            self._waiting_since = None
        self._book_work()
        self.scanner.set_job(job)
        self.firmware.counters.pool_difficulty = job.difficulty
        self._retime_shares()  # the new job's difficulty sets the share rate from now on

    async def _stratum_loop(self) -> None:
        assert self.stratum is not None
        host, port = self.stratum
        delay = 0.5
        while True:
            client = self.make_client(host, port)
            client.add_job_listener(self._on_job)
            try:
                await client.connect()
            except Exception as exc:  # any failure: the firmware retries, as real miners do
                with contextlib.suppress(Exception):
                    await client.close()
                self._publish(Kind.FAULT, {"reason": "stratum-connect-failed", "detail": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self.client = client
            self._retime_shares()
            self._publish(Kind.STATE, {"state": "stratum-connected", "pool": f"{host}:{port}"})
            return

    # ---- events ------------------------------------------------------------------------------------
    def _publish(self, kind: Kind, data: Mapping[str, Any]) -> None:
        self.fanout.publish(Event(self.clock.now_ns(), self.device_id, Source.SIM, kind, dict(data)))

    def _publish_telemetry(self, snap: Snapshot) -> None:
        self._publish(Kind.TELEMETRY, {
            "hashrate_hs": snap.hashrate_5s_hs,
            "temp_chip_c": list(snap.chain_chip_c),
            "temp_board_c": list(snap.chain_board_c),
            "power_w": snap.power_w,
            "fan_rpm": list(snap.fan_rpm),
            "frequency_hz": snap.frequency_hz,
            "core_voltage_v": snap.core_voltage_v,
            "hw_errors": snap.hw_errors,
            "ambient_c": self.physics.ambient_c,
        })

    def describe(self) -> dict[str, Any]:
        """Identity and endpoints (what a test or the daemon needs to reach this device)."""
        return {"model": self.spec.name, "chip": self.spec.chip, "serial": self.serial, "device_id": self.device_id,
                "chips": self.physics.n_chips, "firmware": self.firmware_version, "mac": self.mac,
                "ports": self.ports, "hash_scale": self.hash_scale, "state": self.state}

    @property
    def pool_url(self) -> str:
        if self.stratum is None:
            return ""
        return f"stratum+tcp://{self.stratum[0]}:{self.stratum[1]}"

    @property
    def stratum_active(self) -> bool:
        return self.client is not None and self.client.connected.is_set()
