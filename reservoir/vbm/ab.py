"""The virtual block manager A/B experiment (`asicrc vbm-ab`) on simulated miners: a verdict and its CI.

Design: one Stratum server on 127.0.0.1 with a `VirtualBlockManager` attached, simulated miners (the real
simulator: real sha256d shares at the modeled hashrate / hash_scale) and alternating blocks OFF, ON, OFF, ON...
on the same devices, so slow drifts (thermal, job changes) hit both arms alike. With `upstream_pools` N > 0 the
miners' pool is an `UpstreamProxy` with N real upstream sessions to N more local pools, and the VBM rotates those
sessions; the report then adds what the pools accepted. Per arm: accepted shares and
difficulty, the Poisson (Garwood) hashrate interval (`hashrate.hashrate_from_difficulty_sum`), the modeled true
hashrate, rejects by reason, and the miners' idle time (share -> next job). The verdict compares the arms with
the exact conditional test for two Poisson rates: given n = n_on + n_off shares at one difficulty,
n_on ~ Binomial(n, p) with p = T_on r_on / (T_on r_on + T_off r_off); the Clopper-Pearson interval of p gives an
exact interval for the rate ratio r_on / r_off. "Outside noise" means that interval excludes 1.

Conditions (docs/vbm.md): `miner` "stratum" is every real Stratum miner (it keeps hashing the job it holds and
rolls its own extranonce2, so it never waits for work); "stop_and_wait" is the miner the paper's η_time formula
assumes (after each share it idles until the pool sends a new job). `latency_s` puts a one-way delay between
miner and pool (`latency.DelayRelay`: a round trip costs 2 × latency_s). Per arm the report accounts for the work:
hashed time, idle time (stop-and-wait), stale shares and the work they wasted.

Time: by default (`clock` "virtual") the whole rig (pool, relay, miners) runs on its own
`asicrc.drivers.vtime.VirtualTimeLoop` with its in-memory loopback network, so a round trip costs exactly the
configured latency (no event-loop delay of a loaded machine counts as latency), a run is as fast as the CPU allows
and the same seed gives the same report. `clock` "wall" runs on `Clock(speed)` with real loopback sockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy.stats import beta

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import FanOut
from asicrc.drivers.registry import simulated_models
from asicrc.drivers.stratum.hashrate import hashrate_from_difficulty_sum
from asicrc.drivers.stratum.proxy import UpstreamProxy
from asicrc.drivers.stratum.server import ServerConfig
from asicrc.drivers.stratum.session import Connection, ShareRecord
from asicrc.drivers.stratum.validate import Verdict
from asicrc.drivers.stratum.vbm import VbmConfig, VirtualBlockManager
from asicrc.drivers.vtime import VirtualTimeLoop, run_virtual

from .latency import DelayRelay

AB_MODELS = simulated_models(pool="bitcoin")  # simulated miners on a Bitcoin pool (the LB-Box mines LBRY)
PAPER_CLAIM_RATIO = 1.25  # "175 GH/s achieved 220 GH/s pool-reported (+25 %)"
SEARCH_RATE_HS = 20_000.0  # simulated nonces scanned per simulated second per device (scaled hashrate)
MINERS = ("stratum", "stop_and_wait")
CLOCKS = ("virtual", "wall")
STALE_VERDICTS = (str(Verdict.STALE), str(Verdict.JOB_NOT_FOUND))  # work done on a job the pool replaced


@dataclass(frozen=True)
class AbConfig:
    model: str = "lv06"
    devices: int = 1
    blocks: int = 10  # alternating OFF/ON, starting OFF; short blocks spread machine-load drift over both arms
    block_s: float = 30.0  # simulated seconds per block
    warmup_s: float = 10.0
    speed: float = 20.0  # simulated seconds per wall second (clock "wall" only)
    shares_per_s: float = 2.0  # target share rate per device (sets the pool difficulty)
    clean_jobs: bool = True
    prefetch: int = 8
    upstream_sessions: int = 2
    upstream_pools: int = 0  # > 0: that many local pools behind an UpstreamProxy (real upstream sessions)
    job_interval_s: float = 30.0
    seed: int = 1
    miner: str = "stratum"  # or "stop_and_wait": idles after each share until a new job arrives
    latency_s: float = 0.0  # one-way miner <-> pool delay (simulated seconds); round trip = 2 x latency_s
    clock: str = "virtual"  # or "wall": Clock(speed) on real loopback sockets

    def validate(self) -> None:
        if self.model not in AB_MODELS:
            raise ValueError(f"vbm-ab runs on simulated {' or '.join(AB_MODELS)} miners, got {self.model!r}")
        if not 1 <= self.devices <= 8:
            raise ValueError(f"devices must be in 1..8, got {self.devices}")
        if self.blocks < 2 or self.blocks % 2:
            raise ValueError(f"blocks must be an even number >= 2 (OFF/ON pairs), got {self.blocks}")
        if not 0 <= self.upstream_pools <= 8:
            raise ValueError(f"upstream_pools must be in 0..8, got {self.upstream_pools}")
        if not (self.block_s > 0 and self.speed > 0 and self.shares_per_s > 0 and self.warmup_s >= 0):
            raise ValueError("block_s, speed and shares_per_s must be > 0, warmup_s >= 0")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {self.clock!r}")
        if self.miner not in MINERS:
            raise ValueError(f"miner must be one of {', '.join(MINERS)}, got {self.miner!r}")
        if not 0 <= self.latency_s <= 2:
            raise ValueError(f"latency_s (one way) must be in 0..2 s, got {self.latency_s!r}")
        if not self.job_interval_s > 0:
            raise ValueError(f"job_interval_s must be > 0, got {self.job_interval_s!r}")
        if self.miner == "stop_and_wait" and self.upstream_pools:
            raise ValueError("the stop-and-wait miner runs against the local pool (no upstream pools)")

    @property
    def difficulty(self) -> float:
        return SEARCH_RATE_HS / (self.shares_per_s * 2**32)


@dataclass
class Arm:
    seconds: float = 0.0
    accepted: int = 0
    difficulty_sum: float = 0.0
    rejected: dict[str, int] = field(default_factory=dict)
    true_rate_hs: list[float] = field(default_factory=list)  # modeled hashrate (scaled) sampled per block
    hashes_scanned: int = 0  # nonces the simulated miners actually hashed in this arm (the exact truth)
    idle_gaps_s: list[float] = field(default_factory=list)
    miner_idle_s: float = 0.0  # device-seconds the miners spent waiting for work (stop-and-wait only)


def rate_ratio_interval(n_on: int, t_on: float, n_off: int, t_off: float,
                        confidence: float = 0.95) -> tuple[float, float, float]:
    """Point estimate and exact (Clopper-Pearson, conditional) interval of r_on / r_off."""
    n = n_on + n_off
    if n == 0 or t_on <= 0 or t_off <= 0:
        return (math.nan, 0.0, math.inf)
    a = (1 - confidence) / 2
    p_lo = float(beta.ppf(a, n_on, n_off + 1)) if n_on > 0 else 0.0
    p_hi = float(beta.ppf(1 - a, n_on + 1, n_off)) if n_off > 0 else 1.0

    def ratio(p: float) -> float:
        return math.inf if p >= 1 else (p / (1 - p)) * (t_off / t_on)

    point = ratio(n_on / n) if n_off else math.inf
    return point, ratio(p_lo), ratio(p_hi)


async def run_ab(cfg: AbConfig) -> dict[str, Any]:
    """Run the A/B on `cfg.clock`: on a fresh virtual-time loop in a worker thread (or right here when the caller
    already runs on one), or on the wall clock at `cfg.speed`."""
    cfg.validate()
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop):
        return await _run_ab(cfg, loop.clock)
    if cfg.clock == "wall":
        return await _run_ab(cfg, Clock(cfg.speed))

    async def on_virtual_time() -> dict[str, Any]:
        vloop = asyncio.get_running_loop()
        assert isinstance(vloop, VirtualTimeLoop)
        return await _run_ab(cfg, vloop.clock)

    return await asyncio.to_thread(run_virtual, on_virtual_time)


async def _run_ab(cfg: AbConfig, clock: Clock) -> dict[str, Any]:
    # the rig assembler imports the simulator, which is only needed when an experiment runs
    from asicrc.drivers.rig import start_pool, start_simulator
    from asicrc.drivers.sim import SimMiner

    pool_config = ServerConfig(difficulty=cfg.difficulty, min_difficulty=1e-12, max_difficulty=1e12,
                               job_interval_s=cfg.job_interval_s)
    # with upstream pools the miners' pool is a proxy; the pools judge at the same difficulty, so every share
    # the proxy accepts is also submitted to (and judged by) the pool whose session issued its job
    pools = [await start_pool(dataclasses.replace(pool_config, extranonce2_size=8), fanout=FanOut(), clock=clock,
                              seed=cfg.seed * 1000 + i + 1) for i in range(cfg.upstream_pools)]
    proxy: UpstreamProxy | None = None
    if pools:
        proxy = UpstreamProxy([f"127.0.0.1:{p.port}" for p in pools], "vbm-ab", config=pool_config, clock=clock)
        server = await proxy.start()
    else:
        server = await start_pool(pool_config, fanout=FanOut(), clock=clock, seed=cfg.seed * 1000)
    vbm = VirtualBlockManager(server, VbmConfig(enabled=False, prefetch=cfg.prefetch, clean_jobs=cfg.clean_jobs,
                                                upstream_sessions=cfg.upstream_pools or cfg.upstream_sessions))
    await vbm.start()
    arms = {"off": Arm(), "on": Arm()}
    current: list[str | None] = [None]
    difficulties: set[float] = set()

    def on_share(conn: Connection, rec: ShareRecord) -> None:
        arm_name = current[0]
        if arm_name is None:
            return
        arm = arms[arm_name]
        if rec.verdict is Verdict.ACCEPTED:
            arm.accepted += 1
            arm.difficulty_sum += rec.assigned_diff
            difficulties.add(rec.assigned_diff)
        else:
            arm.rejected[str(rec.verdict)] = arm.rejected.get(str(rec.verdict), 0) + 1

    server.add_share_listener(on_share)
    relay: DelayRelay | None = None
    pool_port = server.port
    if cfg.latency_s > 0:
        relay = DelayRelay(("127.0.0.1", server.port), cfg.latency_s, clock)
        pool_port = await relay.start()
    devices: list[SimMiner] = []
    try:
        for i in range(cfg.devices):
            devices.append(await start_simulator(cfg.model, serial=f"VBM-{cfg.seed}-{i}", seed=cfg.seed * 100 + i,
                                                 clock=clock, pool=("127.0.0.1", pool_port),
                                                 search_rate_hs=SEARCH_RATE_HS,
                                                 waits_after_share=cfg.miner == "stop_and_wait"))
        deadline = asyncio.get_running_loop().time() + 20.0
        while len(server.active_connections()) < cfg.devices:
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("simulated miners did not connect to the local pool within 20 s")
            await asyncio.sleep(0.05)
        await clock.sleep(cfg.warmup_s)
        for b in range(cfg.blocks):
            name = "off" if b % 2 == 0 else "on"
            vbm.enable() if name == "on" else vbm.disable()
            vbm.meter.reset()
            if cfg.miner == "stop_and_wait":
                # both arms start with a fresh (non-clean) job: a waiting miner must not carry the previous
                # block's wait into this one (VBM only pushes a job after a share, which a waiting miner never finds)
                server.push_job(clean=False)
            h0 = sum(d.scanner.hashes_done for d in devices)
            idle0 = sum(d.idle_seconds() for d in devices)
            current[0] = name
            t0 = clock.now()
            await clock.sleep(cfg.block_s)
            current[0] = None
            arm = arms[name]
            arm.seconds += clock.now() - t0
            arm.hashes_scanned += sum(d.scanner.hashes_done for d in devices) - h0
            arm.miner_idle_s += sum(d.idle_seconds() for d in devices) - idle0
            arm.true_rate_hs.append(sum(d.physics.hashrate_hs / d.hash_scale for d in devices))
            arm.idle_gaps_s.extend(vbm.meter.gaps_s)
    finally:
        for dev in devices:
            await dev.stop()
        await vbm.stop()
        if relay is not None:
            await relay.stop()
        await (proxy.stop() if proxy is not None else server.stop())
        for pool in pools:
            await pool.stop()
    upstream = None if proxy is None else {
        "stats": dict(proxy.stats), "sessions": [dict(s.stats) for s in proxy.sessions]}
    return _report(cfg, arms, difficulties, vbm.status(), upstream)


def _report(cfg: AbConfig, arms: dict[str, Arm], difficulties: set[float], status: dict[str, Any],
            upstream: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"config": asdict(cfg), "difficulty": cfg.difficulty, "vbm": status, "arms": {}}
    if upstream is not None:
        out["upstream"] = upstream
    for name, arm in arms.items():
        est = hashrate_from_difficulty_sum(arm.difficulty_sum, arm.accepted, max(arm.seconds, 1e-9))
        gaps = sorted(arm.idle_gaps_s)
        modeled = sum(arm.true_rate_hs) / len(arm.true_rate_hs) if arm.true_rate_hs else 0.0
        scanned = arm.hashes_scanned / arm.seconds if arm.seconds > 0 else 0.0
        stale = sum(arm.rejected.get(v, 0) for v in STALE_VERDICTS)
        found = arm.accepted + stale
        device_s = arm.seconds * cfg.devices
        out["arms"][name] = {
            "seconds": arm.seconds, "accepted": arm.accepted, "rejected": arm.rejected,
            "hashrate_hs": est.rate_hs, "hashrate_ci_hs": [est.low_hs, est.high_hs],
            "modeled_hashrate_hs": modeled, "scanned_hashrate_hs": scanned,
            "ci_contains_scanned": est.low_hs <= scanned <= est.high_hs,
            "idle_gap_median_s": gaps[len(gaps) // 2] if gaps else None,
            "idle_gap_mean_s": sum(gaps) / len(gaps) if gaps else None,
            "idle_gaps": len(gaps),
            # the work account: where the miners' time went
            "miner_idle_fraction": arm.miner_idle_s / device_s if device_s > 0 else 0.0,
            # stop-and-wait: every found share starts a wait, so this is the mean share -> next-job wait the miner
            # saw (network both ways + pool + event-loop delays of this machine)
            "wait_per_share_ms": (1e3 * arm.miner_idle_s / (found + sum(arm.rejected.values()) - stale)
                                  if cfg.miner == "stop_and_wait" and found else None),
            "hashing_fraction": min(1.0, scanned / modeled) if modeled > 0 else 0.0,
            "stale_shares": stale,
            "stale_fraction": stale / found if found else 0.0,
            # each share stands for difficulty x 2^32 hashes of work on average: what the stale ones wasted
            "stale_work_hashes": stale * cfg.difficulty * 2**32,
            "stale_work_fraction_of_hashed": (stale * cfg.difficulty * 2**32 / arm.hashes_scanned
                                              if arm.hashes_scanned else 0.0),
        }
    on, off = arms["on"], arms["off"]
    if len(difficulties) > 1:
        raise RuntimeError(f"shares came at several difficulties {sorted(difficulties)}: the exact ratio test "
                           "needs one")
    point, lo, hi = rate_ratio_interval(on.accepted, on.seconds, off.accepted, off.seconds)
    outside = not (lo <= 1.0 <= hi)
    out["ratio_on_off"] = {"point": point, "ci": [lo, hi], "outside_noise": outside,
                           "paper_claim_1_25_inside_ci": lo <= PAPER_CLAIM_RATIO <= hi}
    if outside:
        direction = "raises" if point > 1 else "lowers"
        verdict = (f"VBM {direction} effective hashrate: ON/OFF = {point:.3f} [{lo:.3f}, {hi:.3f}] (95 % CI), "
                   "outside noise")
    else:
        verdict = (f"no difference outside noise: ON/OFF = {point:.3f} [{lo:.3f}, {hi:.3f}] (95 % CI includes 1)")
    claim = "inside" if out["ratio_on_off"]["paper_claim_1_25_inside_ci"] else "outside"
    out["verdict"] = f"{verdict}; the paper's +25 % (1.25) is {claim} the interval"
    # the same test with hashes done as the exposure: accepted shares per nonce actually hashed. It separates what
    # the option does to the work (stale or discarded shares) from a loaded machine slowing the simulator down.
    if on.hashes_scanned > 0 and off.hashes_scanned > 0:
        p_point, p_lo, p_hi = rate_ratio_interval(on.accepted, on.hashes_scanned, off.accepted, off.hashes_scanned)
        out["ratio_per_hash_on_off"] = {"point": p_point, "ci": [p_lo, p_hi], "outside_noise": not p_lo <= 1 <= p_hi}
    return out


def summarize(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [f"VBM A/B: {cfg['devices']} simulated {cfg['model']}, {cfg['blocks']} alternating blocks of "
             f"{cfg['block_s']:g} s ("
             + ("virtual time" if cfg.get("clock", "wall") == "virtual" else f"simulated, wall clock at {cfg['speed']:g}x")
             + f"), pool difficulty {report['difficulty']:.3g}, "
             f"clean jobs {cfg['clean_jobs']}, miner {cfg['miner']}, one-way latency "
             f"{cfg['latency_s'] * 1e3:g} ms, " + (
                 f"{cfg['upstream_pools']} real upstream session(s) through the proxy" if cfg["upstream_pools"]
                 else f"{cfg['upstream_sessions']} local job session(s)")]
    for name in ("off", "on"):
        a = report["arms"][name]
        idle = "n/a" if a["idle_gap_median_s"] is None else f"{a['idle_gap_median_s'] * 1e3:.1f} ms"
        lines.append(
            f"  {name:>3}: {a['accepted']} accepted in {a['seconds']:.0f} s, rejected {a['rejected'] or 0}; "
            f"hashrate {a['hashrate_hs']:.4g} H/s [{a['hashrate_ci_hs'][0]:.4g}, {a['hashrate_ci_hs'][1]:.4g}] "
            f"(hashed {a['scanned_hashrate_hs']:.4g}, modeled {a['modeled_hashrate_hs']:.4g}); "
            f"median idle share->job {idle} over {a['idle_gaps']} shares; miners hashing "
            f"{a['hashing_fraction']:.1%}, waiting for work {a['miner_idle_fraction']:.1%}"
            + ("" if a["wait_per_share_ms"] is None else f" ({a['wait_per_share_ms']:.0f} ms per share)")
            + "; stale "
            f"{a['stale_shares']} ({a['stale_fraction']:.1%} of found shares, ~{a['stale_work_fraction_of_hashed']:.1%}"
            f" of the hashed work)")
    per_hash = report.get("ratio_per_hash_on_off")
    if per_hash:
        lines.append(f"  accepted shares per hashed nonce, ON/OFF = {per_hash['point']:.3f} "
                     f"[{per_hash['ci'][0]:.3f}, {per_hash['ci'][1]:.3f}] (immune to machine-load drift)")
    up = report.get("upstream")
    if up:
        st = up["stats"]
        lines.append(f"  upstream: {st.get('forwarded', 0)} shares forwarded, {st.get('upstream_accepted', 0)} "
                     f"accepted, {st.get('upstream_rejected', 0)} rejected by the pools")
    lines.append("verdict: " + report["verdict"])
    return "\n".join(lines)
