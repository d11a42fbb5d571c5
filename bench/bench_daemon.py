"""Daemon resource and latency benchmark: the default simulated fleet (S9 + LV06 + LB-Box) under `asicrc run`.

Measures, over --duration seconds (default 300) after a warm-up:
  * CPU share of one core and RSS of the fleet daemon, sampled from /proc every second;
  * RSS growth trend: least-squares slope (MB/min) over the measured window, with its 95% interval;
  * event -> MQTT latency p50/p99: each forwarded event carries t_ns (CLOCK_MONOTONIC where the bytes arrived);
    the subscriber stamps arrival on the same host clock.
Share events come from the simulated devices and from a small CPU miner ("bench-probe") on the fleet's pool, so
the latency is measured even if the simulated devices find few shares.
References measured in the same run, printed as ratios:
  * an idle daemon (same config, no devices) running side by side: fleet CPU/RSS vs idle;
  * raw broker round trip (publish -> own subscription) on the same mosquitto: daemon latency vs broker latency.
Goals (issue 8): < 25% of one core, < 200 MB RSS, no RSS growth trend. Exit status 1 if a goal is missed.

    .venv/bin/python bench/bench_daemon.py --duration 300
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np

ASICRC = str(Path(sys.executable).with_name("asicrc"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# The fleet is the embedded default config's (daemon/default.toml): its devices and its pool difficulty. An
# earlier version hard-coded difficulties 4096/128/64 here, at which the simulated miners (scanning ~20 kH/s of
# real nonces, docs/sim.md) never find a share, so the "default fleet" figures covered no share traffic at all.
DEFAULT_TOML = resources.files("asicrc.daemon").joinpath("default.toml").read_text()
FLEET = DEFAULT_TOML[DEFAULT_TOML.index("[[devices]]"):]
POOL_DIFFICULTY = float(tomllib.loads(DEFAULT_TOML)["stratum"]["difficulty"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def config(node: str, broker_port: int, state: Path, devices: str, stratum_port: int) -> str:
    return (f'[node]\nid = "{node}"\nstate_dir = "{state}"\n[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\n'
            f'[prometheus]\nport = {free_port()}\n[stratum]\nport = {stratum_port}\ndifficulty = {POOL_DIFFICULTY!r}\n'
            f'{devices}')


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise SystemExit("bench_daemon: mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("bench_daemon: mosquitto did not start")


def slope_mb_per_min(t: np.ndarray, rss: np.ndarray) -> tuple[float, float, float]:
    """OLS slope of RSS (MB) against time (min) and its 95% interval (normal approximation)."""
    x = t / 60.0
    y = rss / 1e6
    if len(x) < 3:
        return 0.0, float("nan"), float("nan")
    a = np.vstack([x, np.ones_like(x)]).T
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    s2 = float(resid @ resid) / max(1, len(x) - 2)
    se = float(np.sqrt(s2 / np.sum((x - x.mean()) ** 2)))
    return float(coef[0]), float(coef[0] - 1.96 * se), float(coef[0] + 1.96 * se)


async def broker_round_trip(port: int, n: int = 500) -> list[float]:
    topic = f"bench/{uuid.uuid4().hex}"
    out: list[float] = []
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-rt-{uuid.uuid4().hex[:6]}") as c:
        await c.subscribe(topic)
        for _ in range(n):
            t0 = time.monotonic_ns()
            await c.publish(topic, str(t0).encode())
            async for msg in c.messages:
                out.append((time.monotonic_ns() - int(bytes(msg.payload))) / 1e6)
                break
    return out


async def probe_miner(pool_port: int, delay_s: float) -> None:
    """A small real CPU miner on the fleet's built-in pool, so share events flow at a known pace whatever the
    simulated devices do: a few low-difficulty shares per job (a new job every 30 s)."""
    from asicrc.drivers.sim import CpuMiner
    from asicrc.drivers.stratum.client import StratumClient

    await asyncio.sleep(max(0.0, delay_s - 5.0))
    client = StratumClient("127.0.0.1", pool_port, "bench-probe", suggest_difficulty=0.0005)
    await client.connect()
    miner = CpuMiner(client, shares_per_job=20)
    miner.start()
    try:
        await asyncio.sleep(1e9)
    finally:
        await miner.stop()
        with contextlib.suppress(Exception):
            await client.close()


async def collect_latency(port: int, node: str, stop: asyncio.Event, out: list[float], after_ns: int,
                          per_source: dict[str, int]) -> None:
    """Latency of events produced after `after_ns` (start-up events queued before the broker link are excluded);
    `per_source` counts the measured events per (device topic, event kind)."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-lat-{uuid.uuid4().hex[:6]}") as c:
        await c.subscribe(f"asicrc/{node}/+/event")
        async for msg in c.messages:
            now = time.monotonic_ns()
            ev = json.loads(bytes(msg.payload))
            if int(ev["t_ns"]) >= after_ns:
                out.append((now - int(ev["t_ns"])) / 1e6)
                key = f"{str(msg.topic).split('/')[2]}:{ev.get('kind', '?')}"
                per_source[key] = per_source.get(key, 0) + 1
            if stop.is_set():
                return


async def sample(pids: dict[str, int], seconds: float, warmup: float) -> dict[str, dict[str, list[float]]]:
    data: dict[str, dict[str, list[float]]] = {k: {"t": [], "cpu": [], "rss": []} for k in pids}
    t_start = time.monotonic()
    while time.monotonic() - t_start < warmup + seconds:
        now = time.monotonic()
        for name, pid in pids.items():
            if now - t_start >= warmup:
                data[name]["t"].append(now)
                data[name]["cpu"].append(cpu_seconds(pid))
                data[name]["rss"].append(rss_bytes(pid))
        await asyncio.sleep(1.0)
    return data


def summarize(d: dict[str, list[float]]) -> dict[str, Any]:
    t = np.array(d["t"]) - d["t"][0]
    cpu = np.array(d["cpu"])
    rss = np.array(d["rss"], dtype=float)
    slope, lo, hi = slope_mb_per_min(t, rss)
    return {"cpu_core_fraction": float((cpu[-1] - cpu[0]) / max(t[-1], 1e-9)), "rss_mb_mean": float(rss.mean() / 1e6),
            "rss_mb_max": float(rss.max() / 1e6), "rss_slope_mb_per_min": slope, "rss_slope_ci95": [lo, hi],
            "samples": float(len(t))}


def launch_daemon(work: Path, name: str, broker_port: int, devices: str, stratum_port: int) -> subprocess.Popen[bytes]:
    cfg = work / f"{name}.toml"
    cfg.write_text(config(f"bench-{name}", broker_port, work / f"state-{name}", devices, stratum_port))
    with (work / f"{name}.log").open("wb") as log:
        return subprocess.Popen([ASICRC, "run", "--config", str(cfg), "--log-level", "warning"],
                                stdout=subprocess.DEVNULL, stderr=log)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="asicrc-bench-"))
    broker, port = start_broker(work)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        rt = await broker_round_trip(port)
        fleet_pool = free_port()
        for name, devices in (("fleet", FLEET), ("idle", "")):
            procs[name] = launch_daemon(work, name, port, devices, fleet_pool if name == "fleet" else free_port())
        latencies: list[float] = []
        stop = asyncio.Event()
        after_ns = time.monotonic_ns() + int(args.warmup * 1e9)
        per_source: dict[str, int] = {}
        lat_task = asyncio.create_task(collect_latency(port, "bench-fleet", stop, latencies, after_ns, per_source))
        probe = asyncio.create_task(probe_miner(fleet_pool, args.warmup))
        data = await sample({k: p.pid for k, p in procs.items()}, args.duration, args.warmup)
        stop.set()
        lat_task.cancel()
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await probe
        for name, p in procs.items():
            if p.poll() is not None:
                raise SystemExit(f"bench_daemon: the {name} daemon exited early; see {work / (name + '.log')}")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        broker.terminate()
        broker.wait(5)
    fleet, idle = summarize(data["fleet"]), summarize(data["idle"])
    lat = np.array(latencies) if latencies else np.array([np.nan])
    rtt = np.array(rt)
    result: dict[str, Any] = {
        "duration_s": args.duration, "warmup_s": args.warmup, "fleet": fleet, "idle_reference": idle,
        "event_to_mqtt_ms": {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
                             "n": len(latencies), "per_source": dict(sorted(per_source.items()))},
        "broker_round_trip_ms_reference": {"p50": float(np.percentile(rtt, 50)), "p99": float(np.percentile(rtt, 99)),
                                           "n": len(rt)},
    }
    growth = fleet["rss_slope_ci95"][0] > 0.5  # a significant rise above 0.5 MB/min counts as a trend
    goals = {"cpu_below_25pct_core": fleet["cpu_core_fraction"] < 0.25, "rss_below_200mb": fleet["rss_mb_max"] < 200,
             "no_rss_growth_trend": not growth}
    result["goals"] = goals
    print(f"fleet daemon: CPU {100 * fleet['cpu_core_fraction']:.1f}% of one core "
          f"(idle daemon {100 * idle['cpu_core_fraction']:.1f}%, ratio "
          f"{fleet['cpu_core_fraction'] / max(idle['cpu_core_fraction'], 1e-9):.1f}x; goal < 25%)")
    print(f"fleet daemon: RSS mean {fleet['rss_mb_mean']:.0f} MB, max {fleet['rss_mb_max']:.0f} MB "
          f"(idle {idle['rss_mb_max']:.0f} MB, ratio {fleet['rss_mb_max'] / max(idle['rss_mb_max'], 1e-9):.2f}x; "
          f"goal < 200 MB)")
    print(f"RSS trend: {fleet['rss_slope_mb_per_min']:+.3f} MB/min, 95% CI [{fleet['rss_slope_ci95'][0]:+.3f}, "
          f"{fleet['rss_slope_ci95'][1]:+.3f}] over {args.duration:g} s ({'GROWING' if growth else 'no trend'})")
    p50, p99 = result["event_to_mqtt_ms"]["p50"], result["event_to_mqtt_ms"]["p99"]
    r50, r99 = result["broker_round_trip_ms_reference"]["p50"], result["broker_round_trip_ms_reference"]["p99"]
    print(f"event -> MQTT latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(latencies)} events "
          f"(raw broker round trip p50 {r50:.2f} ms, p99 {r99:.2f} ms; ratio p50 {p50 / r50:.1f}x, p99 {p99 / r99:.1f}x)")
    print("measured events per device:kind: " + (", ".join(f"{k}={v}" for k, v in sorted(per_source.items()))
                                                    or "none"))
    print("goals: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in goals.items()))
    result["exit_code"] = 0 if all(goals.values()) else 1
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="measured seconds (default 300)")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds ignored at start (default 20)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if not args.duration >= 5:
        parser.error("--duration must be >= 5 seconds")
    result = asyncio.run(main_async(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
