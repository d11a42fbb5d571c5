"""Fleet-scale benchmark: one `asicrc run` daemon polling N network S9s (cgminer 4028 API) on loopback.

The N endpoints are lightweight: N listening sockets on one selector in a separate process (no asyncio, ~45 us of
CPU per request, reported as `endpoints` so it is seen not to crowd the daemon), each answering with the exact
reply bytes captured from the simulated S9's 4028 server at the start of the run (so the daemon parses real
bmminer-shaped replies, ~3.4 kB of `stats+summary`). The endpoint process records when every request arrived.

Measured per N (default 1000, 5000, 10000) at --interval seconds per poll, over --duration seconds after every
device came up (or --up-timeout passed):
  * CPU share of one core and RSS of the daemon (/proc), open file descriptors (peak), with the daemon's
    RLIMIT_NOFILE set to --nofile (4096: what the systemd unit sets);
  * polls seen by the endpoints, CPU ms per device poll, devices up (asicrc_device_up == 1 at the end);
  * missed poll deadlines: a gap between two polls of one device longer than 1.5 x interval, or a device that
    was not polled in an interval-long stretch of the window at all;
  * stagger: the busiest 100 ms of requests against the mean per 100 ms (1.0 = perfectly spread);
  * /metrics scrape time (max of the scrapes during the window, gzip accepted as Prometheus does) and the CPU
    that scrape cost the daemon (its threads other than the event loop's, from /proc/<pid>/task), and those
    threads' CPU over the whole window (the scrapes plus the device lines written between them);
  * the machine's load average at the end of the window (the CPU figures are the daemon's own user+sys time, far
    less sensitive to other load than wall time, but not immune: caches and SMT siblings are shared).
Reference measured in the same run: an idle daemon with the same config minus the devices (CPU share, RSS).
Goals (issue 16): 10 000 devices at 10 s under one core (aim <= 0.3 ms CPU per poll), < 500 MB, 0 missed
deadlines, peak fds well under the limit, scrape < 1 s. Exit status 1 if a goal is missed at the largest N.

    .venv/bin/python bench/bench_fleet.py --devices 1000 5000 10000 --interval 10 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import itertools
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ASICRC = str(Path(sys.executable).with_name("asicrc"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
COMMANDS = ("version", "stats", "summary", "stats+summary", "devs", "pools")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def side_threads_cpu_seconds(pid: int) -> float:
    """CPU of the daemon's threads other than the event loop's (the metrics server's loop and render workers):
    across one scrape, the CPU that scrape cost, whatever the machine's load did to its wall time."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) != pid:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# ---- captured replies --------------------------------------------------------------------------------------
async def capture_replies() -> dict[str, str]:
    """The simulated S9's 4028 replies (raw text up to the NUL) for each command the driver may send."""
    from asicrc.drivers.sim import SimS9

    sim = SimS9(serial="BENCH-S9", seed=1)
    await sim.start()
    try:
        port = int(sim.ports["rpc"])
        await asyncio.sleep(1.0)  # a few physics steps so the telemetry is not all zero
        out: dict[str, str] = {}
        for cmd in COMMANDS:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(json.dumps({"command": cmd}).encode())
            await writer.drain()
            raw = await reader.read()
            writer.close()
            out[cmd] = raw.split(b"\0", 1)[0].decode()
        return out
    finally:
        await sim.stop()


# ---- endpoint process ----------------------------------------------------------------------------------------
class Endpoints:
    """N cgminer listeners in one process on one selector (no asyncio, no per-connection objects beyond a
    buffer): accept, read the JSON request, answer the captured bytes + NUL, close (as cgminer does). Cheap on
    purpose, so that at 1000 connections/s the endpoints do not take the cores the daemon is measured on."""

    def __init__(self, n: int, captured: dict[str, str]) -> None:
        self.replies = {k: v.encode() + b"\0" for k, v in captured.items()}
        self.invalid = b'{"STATUS":[{"STATUS":"E","Code":14,"Msg":"Invalid command"}],"id":1}\0'
        self.log: list[list[float]] = [[] for _ in range(n)]
        self.sel = selectors.DefaultSelector()
        self.ports: list[int] = []
        for i in range(n):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(64)
            ls.setblocking(False)
            self.sel.register(ls, selectors.EVENT_READ, (i, None))
            self.ports.append(int(ls.getsockname()[1]))
        self.stopped = False

    def run(self) -> None:
        while not self.stopped:
            for key, _ in self.sel.select(0.5):
                index, buf = key.data
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if buf is None:
                    self._accept(sock, index)
                else:
                    self._read(sock, index, buf)

    def _accept(self, listener: socket.socket, index: int) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            self.sel.register(conn, selectors.EVENT_READ, (index, bytearray()))

    def _read(self, conn: socket.socket, index: int, buf: bytearray) -> None:
        try:
            data = conn.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buf += data
        command = None
        if buf.rstrip().endswith(b"}"):
            try:
                command = str(json.loads(buf)["command"])
            except (ValueError, KeyError, TypeError):
                pass  # not complete yet
        if command is None and data:
            return
        self.sel.unregister(conn)
        if command is not None:
            if command.startswith("stats"):
                self.log[index].append(time.monotonic())
            with contextlib.suppress(OSError):
                conn.setblocking(True)  # a few kB into an empty loopback socket buffer: never blocks long
                conn.sendall(self.replies.get(command, self.invalid))
        conn.close()


def serve_endpoints(n: int, captured: dict[str, str]) -> list[list[float]]:
    endpoints = Endpoints(n, captured)
    print(json.dumps(endpoints.ports), flush=True)

    def stop(_sig: int, _frame: Any) -> None:
        endpoints.stopped = True

    signal.signal(signal.SIGTERM, stop)
    endpoints.run()
    return endpoints.log


# ---- one measurement ----------------------------------------------------------------------------------------
def daemon_config(workdir: Path, ports: list[int], interval: float, prom_port: int) -> str:
    lines = [f'[node]\nid = "bench-fleet"\nstate_dir = "{workdir / "state"}"\npoll_interval_s = {interval}\n'
             f'log_level = "warning"\n[mqtt]\nenabled = false\n[prometheus]\nport = {prom_port}\n'
             f'[stratum]\nport = 0\n'
             # the live reservoir stream turns every device's events into a feature row per window (~1 ms each,
             # measured in this bench's profile): a research feature for a few devices, not for a polled fleet
             f'[reservoir]\nenabled = false\n']
    for i, port in enumerate(ports):
        lines.append(f'[[devices]]\nid = "s9-{i:05d}"\nmodel = "s9"\ntransport = "rpc"\nhost = "127.0.0.1"\n'
                     f'port = {port}\n')
    return "".join(lines)


# `--profile`: the daemon under cProfile with a CPU-time clock (process_time), so the profile says where CPU goes
# rather than where a contended process waits for a core (a sampling profiler counts runnable-but-waiting time)
PROFILED_DAEMON = """
import cProfile, pstats, sys, time
from asicrc.daemon.cli import main
prof = cProfile.Profile(time.process_time)
try:
    prof.runcall(main, ["run", "--config", sys.argv[1]])
finally:
    prof.dump_stats(sys.argv[2])
"""


def start_daemon(config: Path, log: Path, nofile: int, profile: Path | None = None) -> subprocess.Popen[bytes]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    cmd = [ASICRC, "run", "--config", str(config)]
    if profile is not None:
        cmd = [sys.executable, "-c", PROFILED_DAEMON, str(config), str(profile)]
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, preexec_fn=limit)


def scrape(port: int) -> tuple[float, str]:
    """One scrape as Prometheus makes it (gzip accepted): (seconds until the whole body arrived, text)."""
    t0 = time.perf_counter()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read()
        gzipped = r.headers.get("Content-Encoding") == "gzip"
    took = time.perf_counter() - t0
    return took, (gzip.decompress(body) if gzipped else body).decode()


def devices_up(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("asicrc_device_up{") and line.endswith(" 1.0"))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def deadlines(log: list[list[float]], t0: float, t1: float, interval: float) -> tuple[int, int]:
    """(polls inside [t0, t1], missed deadlines) from per-device request times."""
    polls = missed = 0
    for times in log:
        inside = [t for t in times if t0 <= t <= t1]
        polls += len(inside)
        edges = [t0, *inside, t1]
        for a, b in itertools.pairwise(edges):
            if b - a > 1.5 * interval:
                missed += int((b - a) // interval)
    return polls, missed


def stagger(log: list[list[float]], t0: float, t1: float) -> float:
    buckets: dict[int, int] = {}
    for times in log:
        for t in times:
            if t0 <= t <= t1:
                buckets[int((t - t0) * 10)] = buckets.get(int((t - t0) * 10), 0) + 1
    if not buckets:
        return float("nan")
    mean = sum(buckets.values()) / max(1, int((t1 - t0) * 10))
    return max(buckets.values()) / mean


def measure(n: int, args: argparse.Namespace, replies_path: Path, workdir: Path) -> dict[str, Any]:
    log_path = workdir / f"requests-{n}.json"
    ep = subprocess.Popen([sys.executable, __file__, "--serve", str(n), "--replies", str(replies_path),
                           "--log", str(log_path)], stdout=subprocess.PIPE,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n + 4096, n + 4096)))
    assert ep.stdout is not None
    ports = json.loads(ep.stdout.readline())
    config = workdir / f"fleet-{n}.toml"
    for _attempt in range(5):  # a port picked here can be taken by another program before the daemon binds it
        prom_port = free_port()
        config.write_text(daemon_config(workdir, ports, args.interval, prom_port))
        profile = args.profile.with_suffix(f".{n}.prof") if args.profile else None
        daemon = start_daemon(config, workdir / f"daemon-{n}.log", args.nofile, profile)
        time.sleep(3.0)
        if daemon.poll() is None or "address already in use" not in (workdir / f"daemon-{n}.log").read_text():
            break
    result: dict[str, Any] = {"devices": n, "interval_s": args.interval}
    try:
        t_start = time.monotonic()
        up = 0
        while time.monotonic() - t_start < args.up_timeout:
            time.sleep(2.0)
            if daemon.poll() is not None:
                raise SystemExit(f"bench_fleet: daemon exited: {(workdir / f'daemon-{n}.log').read_text()[-2000:]}")
            try:
                up = devices_up(scrape(prom_port)[1])
            except OSError:
                continue
            if up == n:
                break
        result["up_after_s"] = round(time.monotonic() - t_start, 1)
        time.sleep(min(args.interval, 10.0))  # one more interval: the first-contact burst is over
        c0, w0, e0 = cpu_seconds(daemon.pid), time.monotonic(), cpu_seconds(ep.pid)
        side_w0 = side_threads_cpu_seconds(daemon.pid)
        rss_peak = fds_peak = 0
        scrapes: list[float] = []
        scrape_cpu: list[float] = []
        next_scrape = w0
        while time.monotonic() - w0 < args.duration:
            rss_peak = max(rss_peak, rss_bytes(daemon.pid))
            fds_peak = max(fds_peak, open_fds(daemon.pid))
            if time.monotonic() >= next_scrape:
                side0 = side_threads_cpu_seconds(daemon.pid)
                took, _ = scrape(prom_port)
                scrapes.append(took)
                scrape_cpu.append(side_threads_cpu_seconds(daemon.pid) - side0)
                next_scrape = time.monotonic() + max(5.0, args.duration / 6)
            time.sleep(0.2)
        c1, w1, e1 = cpu_seconds(daemon.pid), time.monotonic(), cpu_seconds(ep.pid)
        side_w1 = side_threads_cpu_seconds(daemon.pid)
        load = os.getloadavg()
        up = devices_up(scrape(prom_port)[1])
    finally:
        stop(daemon)
        ep.send_signal(signal.SIGTERM)
        ep.wait(60)
    log = json.loads(log_path.read_text())
    polls, missed = deadlines(log, w0, w1, args.interval)
    cpu = (c1 - c0) / (w1 - w0)
    result.update({
        "cpu_core_fraction": round(cpu, 3), "rss_mb": round(rss_peak / 1e6, 1), "fds_peak": fds_peak,
        "nofile": args.nofile, "polls": polls, "expected_polls": round(n * (w1 - w0) / args.interval),
        "cpu_ms_per_poll": round(1e3 * (c1 - c0) / polls, 3) if polls else None, "devices_up": up,
        "missed_deadlines": missed, "stagger_peak_over_mean": round(stagger(log, w0, w1), 2),
        "scrape_s_max": round(max(scrapes), 3) if scrapes else None,
        "scrape_cpu_s_max": round(max(scrape_cpu), 3) if scrape_cpu else None,
        # the metrics threads over the whole window: scrapes plus the device lines written between them
        "metrics_threads_cpu_core_fraction": round((side_w1 - side_w0) / (w1 - w0), 4),
        "endpoints_cpu_core_fraction": round((e1 - e0) / (w1 - w0), 3), "loadavg": [round(x, 2) for x in load],
    })
    return result


def idle_reference(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config = workdir / "idle.toml"
    config.write_text(daemon_config(workdir, [], args.interval, free_port()))
    daemon = start_daemon(config, workdir / "idle.log", args.nofile)
    try:
        time.sleep(5.0)
        c0, w0 = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(min(20.0, args.duration))
        c1, w1 = cpu_seconds(daemon.pid), time.monotonic()
        return {"cpu_core_fraction": round((c1 - c0) / (w1 - w0), 4), "rss_mb": round(rss_bytes(daemon.pid) / 1e6, 1)}
    finally:
        stop(daemon)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, nargs="+", default=[1000, 5000, 10000])
    p.add_argument("--interval", type=float, default=10.0, help="poll interval (s)")
    p.add_argument("--duration", type=float, default=60.0, help="measured window per N (s)")
    p.add_argument("--up-timeout", type=float, default=120.0, help="wait this long for every device to come up")
    p.add_argument("--nofile", type=int, default=4096, help="the daemon's RLIMIT_NOFILE (LimitNOFILE in the unit)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--profile", type=Path, metavar="PATH",
                   help="run the daemon under cProfile (CPU clock) and write PATH.<N>.prof per N (slows it down)")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--replies", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        log = serve_endpoints(args.serve, json.loads(args.replies.read_text()))
        args.log.write_text(json.dumps(log))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        workdir = Path(tmp)
        replies_path = workdir / "replies.json"
        replies_path.write_text(json.dumps(asyncio.run(capture_replies())))
        print(f"bench_fleet: nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}, captured S9 replies: "
              f"stats {len(json.loads(replies_path.read_text())['stats'])} bytes", flush=True)
        idle = idle_reference(args, workdir)
        print(f"idle daemon (no devices): {idle['cpu_core_fraction']:.1%} of a core, {idle['rss_mb']} MB", flush=True)
        results = []
        for n in args.devices:
            r = measure(n, args, replies_path, workdir)
            results.append(r)
            print(f"N={n:>5} @ {args.interval:g} s: up {r['devices_up']}/{n} (after {r['up_after_s']} s)  "
                  f"cpu {r['cpu_core_fraction']:.1%} of a core ({r['cpu_core_fraction'] / max(idle['cpu_core_fraction'], 1e-4):.0f}x idle)  "
                  f"{r['cpu_ms_per_poll']} ms/poll  rss {r['rss_mb']} MB  fds peak {r['fds_peak']}/{r['nofile']}  "
                  f"polls {r['polls']}/{r['expected_polls']}  missed {r['missed_deadlines']}  "
                  f"stagger {r['stagger_peak_over_mean']}  scrape {r['scrape_s_max']} s ({r['scrape_cpu_s_max']} s CPU; "
                  f"metrics threads {r['metrics_threads_cpu_core_fraction']:.1%} of a core)  "
                  f"endpoints {r['endpoints_cpu_core_fraction']:.1%} of a core  "
                  f"(load {' '.join(f'{x:.2f}' for x in r['loadavg'])})", flush=True)
        if args.json:
            print(json.dumps({"idle": idle, "results": results}, indent=1))
    big = results[-1]
    goals = {
        "all up": big["devices_up"] == big["devices"],
        "< 1 core": big["cpu_core_fraction"] < 1.0,
        "<= 0.3 ms/poll": (big["cpu_ms_per_poll"] or 99) <= 0.3,
        "< 500 MB": big["rss_mb"] < 500,
        "0 missed deadlines": big["missed_deadlines"] == 0,
        "fds < half the limit": big["fds_peak"] < big["nofile"] / 2,
        "scrape < 1 s": (big["scrape_s_max"] or 99) < 1.0,
    }
    print(f"goals at N={big['devices']}: " + ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in goals.items()))
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
