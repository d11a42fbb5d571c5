"""The daemon under attack on loopback: honest-miner submit latency and daemon CPU/RSS before, during and after.

One `asicrc run` (a password-protected device "honest", optionally the embedded simulated fleet), one
mosquitto, and an honest Stratum miner in this process that submits real shares (searched in the C core at the
pool difficulty) at --rate per second and times every submit -> reply. Each attack runs in a child process
(`--attacker NAME`, so generating it does not delay the honest miner's own loop), all on 127.0.0.1:

  flood      one-shot Stratum connections that subscribe and never authorize, plus held-open half handshakes
  slowloris  Stratum and /metrics connections that send a byte every second and never finish a line/request
  spoof      clients authorizing as the configured devices "honest" and "lv06" (wrong or no password), asking
             for difficulty 1e-9 and submitting shares as fast as they can
  poison     MQTT requests with poisoned reply topics (NUL, lone surrogate, 70k characters, wildcards),
             non-UTF-8 and deeply nested payloads, and a request flood
  oversize   5 x 50 MB MQTT payloads, 1 MB Stratum lines without a newline, 64 kB /metrics request heads

For each attack: a --before window, the attack (--attack-s), --recover-s of quiet, then an --after window.
Per window: honest submit p50/p99 (and how many got no reply), daemon CPU (share of one core) and RSS; after the
attack: 3 MQTT pings, and whether the spoofers got any share counted for the honest device.
References in the same run: the first window's CPU/RSS/p99 (baseline) and, per attack, its own before window.
Goals (issue 13): honest p99 < 10 ms during every attack; CPU after <= 2 x baseline; RSS after <= before + 20 MB;
3/3 pings; no spoofed share counted. Exit status 1 if a goal is missed. Results: docs/benchmarks.md.

    .venv/bin/python bench/bench_hostile.py [--attacks flood,slowloris,spoof,poison,oversize] [--quick]
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
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiomqtt
import numpy as np

from asicrc.drivers.stratum.work import Notify, build_header
from asicrc.native import difficulty_batch

ASICRC = str(Path(sys.executable).with_name("asicrc"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
HONEST_PASSWORD = "honest-secret"
ATTACKS = ("flood", "slowloris", "spoof", "poison", "oversize")
DEFAULT_TOML = resources.files("asicrc.daemon").joinpath("default.toml").read_text()
DEFAULT_FLEET = DEFAULT_TOML[DEFAULT_TOML.index("[[devices]]"):]
POOL_DIFFICULTY = float(tomllib.loads(DEFAULT_TOML)["stratum"]["difficulty"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


@dataclass
class Ports:
    broker: int
    stratum: int
    prometheus: int
    node: str


# ---- the honest miner ------------------------------------------------------------------------------------------

@dataclass
class HonestMiner:
    """Authorizes as the configured device "honest" with its password and submits real shares, one at a time."""

    port: int
    latencies: list[float] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    lost: int = 0  # submits with no reply within 2 s
    reconnects: int = 0
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _notify: Notify | None = None
    _difficulty: float = POOL_DIFFICULTY
    _en1: bytes = b""
    _en2_size: int = 4
    _en2: int = 0
    _rid: int = 100
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _reader_task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        self._reader_task = asyncio.create_task(self._read_loop())
        sub = await self._call("mining.subscribe", ["bench-honest/1.0"])
        self._en1, self._en2_size = bytes.fromhex(sub["result"][1]), int(sub["result"][2])
        auth = await self._call("mining.authorize", ["honest", HONEST_PASSWORD])
        if auth.get("result") is not True:
            raise SystemExit(f"bench_hostile: the honest miner was refused: {auth}")
        for _ in range(100):
            if self._notify is not None:
                return
            await asyncio.sleep(0.05)
        raise SystemExit("bench_hostile: no mining.notify after authorize")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        while True:
            line = await self._reader.readline()
            if not line:
                return
            msg = json.loads(line)
            if msg.get("method") == "mining.notify":
                self._notify = Notify.from_params(msg["params"])
            elif msg.get("method") == "mining.set_difficulty":
                self._difficulty = float(msg["params"][0])
            elif msg.get("id") in self._pending:
                self._pending.pop(msg["id"]).set_result(msg)

    async def _call(self, method: str, params: list[Any], timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        assert self._writer is not None
        self._rid += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._rid] = fut
        self._writer.write(json.dumps({"id": self._rid, "method": method, "params": params}).encode() + b"\n")
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(self._rid, None)

    def _find_share(self) -> list[Any]:
        """A share valid at the current difficulty for the current job (searched in the C core)."""
        notify = self._notify
        assert notify is not None
        while True:
            self._en2 += 1
            en2 = self._en2.to_bytes(self._en2_size, "little")
            header = build_header(notify, self._en1, en2)
            for start in range(0, 1 << 20, 1 << 16):
                nonces = np.arange(start, start + (1 << 16), dtype=np.uint32)
                diffs = difficulty_batch(header, nonces)
                assert isinstance(diffs, np.ndarray)
                hits = nonces[diffs >= self._difficulty]
                if len(hits):
                    return ["honest", notify.job_id, en2.hex(), f"{notify.ntime:08x}", f"{int(hits[0]):08x}"]

    async def submit_one(self) -> None:
        if self._writer is None or self._writer.is_closing() or self._reader_task is None \
                or self._reader_task.done():
            self.reconnects += 1
            with contextlib.suppress(OSError, TimeoutError, SystemExit):
                await self.connect()
            return
        params = await asyncio.to_thread(self._find_share)  # the C core releases the GIL; replies keep flowing
        t0 = time.perf_counter()
        try:
            reply = await self._call("mining.submit", params, timeout=2.0)
        except TimeoutError:
            self.lost += 1
            return
        except (ConnectionError, OSError):
            self.lost += 1
            self._writer = None
            return
        self.latencies.append(time.perf_counter() - t0)
        verdict = "accepted" if reply.get("result") is True else str((reply.get("error") or [0, "?"])[1])[:40]
        self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1

    def take(self) -> tuple[list[float], dict[str, int], int]:
        out = (self.latencies, self.verdicts, self.lost)
        self.latencies, self.verdicts, self.lost = [], {}, 0
        return out


# ---- the machine's own noise: a reference measured in the same run -------------------------------------------------

async def echo_server(port: int) -> None:
    """A line echo on loopback in its own process, at the daemon's priority: what a round trip costs on this
    machine right now with no daemon in the path (the other engineers' load, the attacker's, this bench's own)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


@dataclass
class EchoProbe:
    port: int
    latencies: list[float] = field(default_factory=list)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        for _ in range(100):
            with contextlib.suppress(OSError):
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
                return
            await asyncio.sleep(0.05)
        raise SystemExit("bench_hostile: the echo reference did not start")

    async def one(self) -> None:
        assert self._reader is not None and self._writer is not None
        t0 = time.perf_counter()
        self._writer.write(b'{"id":1,"method":"echo","params":[]}\n')
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reader.readline(), 2.0)
            self.latencies.append(time.perf_counter() - t0)

    def take(self) -> list[float]:
        out, self.latencies = self.latencies, []
        return out


# ---- measurement windows ---------------------------------------------------------------------------------------

@dataclass
class Window:
    name: str
    seconds: float
    cpu_core: float  # daemon CPU seconds per wall second
    rss_mb: float  # at the end of the window
    submits: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    over_10ms: int  # honest submits answered in 10 ms or more
    lost: int
    verdicts: dict[str, int]
    echo_p50_ms: float | None  # the same-run reference: a loopback echo in its own process, no daemon
    echo_p99_ms: float | None
    loadavg_1m: float  # the machine's (shared) load at the end of the window


def _percentiles(lat: list[float]) -> tuple[float | None, float | None, float | None]:
    if not lat:
        return None, None, None
    ms = np.array(lat) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


async def measure(name: str, seconds: float, pid: int, miner: HonestMiner, echo: EchoProbe, rate: float) -> Window:
    miner.take()
    echo.take()
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    next_at = t0
    while time.perf_counter() - t0 < seconds:
        await miner.submit_one()
        await echo.one()
        next_at += 1.0 / rate
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    wall = time.perf_counter() - t0
    lat, verdicts, lost = miner.take()
    p50, p99, mx = _percentiles(lat)
    e50, e99, _ = _percentiles(echo.take())
    return Window(name, wall, (cpu_seconds(pid) - cpu0) / wall, rss_mb(pid), len(lat), p50, p99, mx,
                  sum(x >= 0.010 for x in lat), lost, verdicts, e50, e99, os.getloadavg()[0])


# ---- MQTT probes -----------------------------------------------------------------------------------------------

PING_ERRORS: list[str] = []  # why a ping went unanswered (kept for the results)


async def mqtt_pings(ports: Ports, n: int = 3) -> int:
    from asicrc.daemon.client import ClientError, request
    from asicrc.daemon.config import MqttConfig

    cfg = MqttConfig(host="127.0.0.1", port=ports.broker)
    ok = 0
    for _ in range(n):
        try:
            ok += (await request(cfg, ports.node, "ping", {}, 5)).get("status") == "ok"
        except ClientError as exc:
            PING_ERRORS.append(f"{time.strftime('%H:%M:%S')} {exc}")
    return ok


async def daemon_gc(ports: Ports) -> dict[str, Any]:
    """The daemon's collector statistics so far (`status` -> gc: collections, longest pause)."""
    from asicrc.daemon.client import ClientError, request
    from asicrc.daemon.config import MqttConfig

    with contextlib.suppress(ClientError):
        reply = await request(MqttConfig(host="127.0.0.1", port=ports.broker), ports.node, "status", {}, 5)
        return dict(reply.get("data", {}).get("gc") or {})
    return {}


def honest_shares(ports: Ports) -> float:
    """Accepted shares the daemon counts for device "honest" (Prometheus)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{ports.prometheus}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("asicrc_shares_total{") and 'device="honest"' in line and 'verdict="accepted"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


# ---- attackers (run as child processes) -------------------------------------------------------------------------

async def attack_flood(ports: Ports, seconds: float) -> dict[str, Any]:
    """One-shot connections that never authorize (the issue's 3000), plus up to 200 held half-open."""
    deadline = time.monotonic() + seconds
    opened = refused = 0
    held: list[asyncio.StreamWriter] = []

    async def one_shot() -> None:
        nonlocal opened, refused
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", ports.stratum), 2)
        except (OSError, TimeoutError):
            refused += 1
            return
        opened += 1
        w.write(b'{"id":1,"method":"mining.subscribe","params":["flood"]}\n')
        with contextlib.suppress(Exception):
            await asyncio.wait_for(r.readline(), 1)
        if len(held) < 200:
            held.append(w)
        else:
            w.close()

    while time.monotonic() < deadline and opened + refused < 3000 * max(1.0, seconds / 15):
        await asyncio.gather(*(one_shot() for _ in range(20)))
        await asyncio.sleep(0.05)
    for w in held:
        w.close()
    return {"connections": opened, "refused": refused}


async def attack_slowloris(ports: Ports, seconds: float) -> dict[str, Any]:
    writers: list[asyncio.StreamWriter] = []
    for port, first in ((ports.stratum, b'{"id":1,"method":"mining.subscr'),
                        (ports.prometheus, b"GET /metrics HTTP/1.1\r\nX-Slow: ")):
        for _ in range(300):
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            except (OSError, TimeoutError):
                continue
            w.write(first)
            writers.append(w)
    deadline = time.monotonic() + seconds
    alive = len(writers)
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        alive = 0
        for w in writers:
            if not w.is_closing():
                with contextlib.suppress(Exception):
                    w.write(b"a")
                    alive += 1
    for w in writers:
        w.close()
    return {"opened": len(writers), "still_open_at_end": alive}


async def attack_spoof(ports: Ports, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    attempts = accepted_auth = 0

    async def spoofer(name: str, password: str) -> None:
        nonlocal attempts, accepted_auth
        while time.monotonic() < deadline:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", ports.stratum), 2)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            try:
                w.write(b'{"id":1,"method":"mining.subscribe","params":["spoof"]}\n')
                w.write(json.dumps({"id": 2, "method": "mining.authorize", "params": [name, password]}).encode()
                        + b"\n")
                w.write(b'{"id":3,"method":"mining.suggest_difficulty","params":[1e-9]}\n')
                attempts += 1
                for i in range(200):  # garbage shares as fast as the connection allows
                    w.write(json.dumps({"id": 10 + i, "method": "mining.submit",
                                        "params": [name, "1", "00000000", "00000000", f"{i:08x}"]}).encode() + b"\n")
                await w.drain()
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1):
                        while line := await r.readline():
                            msg = json.loads(line)
                            if msg.get("id") == 2 and msg.get("result") is True:
                                accepted_auth += 1
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

    await asyncio.gather(spoofer("honest", "guess"), spoofer("honest", ""), spoofer("lv06", "x"),
                         spoofer("honest.rig2", HONEST_PASSWORD + "!"))
    return {"authorize_attempts": attempts, "authorize_accepted": accepted_auth}


async def attack_poison(ports: Ports, seconds: float) -> dict[str, Any]:
    topic = f"asicrc/{ports.node}/request/status"
    poison = [b'{"reply_to": "a\\u0000b"}', b'{"reply_to": "\\ud800"}',
              json.dumps({"reply_to": "asicrc/client/" + "a" * 70_000}).encode(),
              b'{"reply_to": "asicrc/client/#"}', b'{"reply_to": "asicrc/other/request/restart_device"}',
              b"\xff\xfe\x00garbage", b"[" * 60_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000]
    sent = 0
    deadline = time.monotonic() + seconds
    async with aiomqtt.Client("127.0.0.1", ports.broker, identifier=f"poison-{uuid.uuid4().hex[:6]}") as c:
        while time.monotonic() < deadline:
            for p in poison:
                await c.publish(topic, p, qos=1)
                sent += 1
            for i in range(500):  # and a flood of well-formed requests
                await c.publish(topic, json.dumps({"transaction": i}).encode(), qos=0)
                sent += 1
            await asyncio.sleep(0.5)
    return {"messages": sent}


async def attack_oversize(ports: Ports, seconds: float) -> dict[str, Any]:
    big = b'{"x": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    async with aiomqtt.Client("127.0.0.1", ports.broker, identifier=f"big-{uuid.uuid4().hex[:6]}") as c:
        for _ in range(5):
            await c.publish(f"asicrc/{ports.node}/request/status", big, qos=1)
    del big
    lines = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for port, head in ((ports.stratum, b'{"id":1,"method":"mining.subscribe","params":["'),
                           (ports.prometheus, b"GET /metrics HTTP/1.1\r\nX-Big: ")):
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
                w.write(head + b"a" * (1 << 20 if port == ports.stratum else 1 << 16))
                await asyncio.wait_for(w.drain(), 2)
                lines += 1
                w.close()
            except (OSError, TimeoutError, ConnectionError):
                pass
        await asyncio.sleep(0.2)
    return {"mqtt_50MB": 5, "long_lines": lines}


ATTACKERS = {"flood": attack_flood, "slowloris": attack_slowloris, "spoof": attack_spoof, "poison": attack_poison,
             "oversize": attack_oversize}


def run_attacker(args: argparse.Namespace) -> int:
    # On a farm LAN the attacker's CPU is its own machine's; here it shares two cores with the daemon, so it runs
    # at the lowest priority: what is measured is what the attack traffic costs the daemon, not what generating it
    # costs the host.
    os.nice(19)
    ports = Ports(*json.loads(args.ports))
    result = asyncio.run(ATTACKERS[args.attacker](ports, args.attack_s))
    print(json.dumps(result))
    return 0


# ---- the daemon and the broker -----------------------------------------------------------------------------------

def start_stack(workdir: Path, fleet: str) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], Ports, Path]:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(exe).exists():
        raise SystemExit("bench_hostile: mosquitto is not installed (apt-get install mosquitto)")
    ports = Ports(free_port(), free_port(), free_port(), f"hostile-{uuid.uuid4().hex[:6]}")
    (workdir / "mosquitto.conf").write_text(f"listener {ports.broker} 127.0.0.1\nallow_anonymous true\n"
                                            "persistence false\n")
    broker = subprocess.Popen([exe, "-c", str(workdir / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    cfg = workdir / "daemon.toml"
    cfg.write_text(
        f'[node]\nid = "{ports.node}"\nstate_dir = "{workdir / "state"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {ports.broker}\n'
        f'[prometheus]\nhost = "127.0.0.1"\nport = {ports.prometheus}\n'
        f'[stratum]\nhost = "127.0.0.1"\nport = {ports.stratum}\ndifficulty = {POOL_DIFFICULTY!r}\n'
        f'[stratum.workers.honest]\npassword = "{HONEST_PASSWORD}"\n'
        # "honest" is a configured device (its shares are counted per device, so a spoof would show) whose API
        # is a closed port: it only mines through this bench's honest miner
        f'{DEFAULT_FLEET if fleet == "default" else ""}\n[[devices]]\nid = "honest"\nmodel = "lv06"\ntransport = "http"\nport = {free_port()}\n')
    log = (workdir / "daemon.log").open("wb")
    daemon = subprocess.Popen([ASICRC, "run", "--config", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", ports.stratum), timeout=0.5):
                break
        except OSError:
            if daemon.poll() is not None:
                raise SystemExit(f"bench_hostile: daemon exited: {(workdir / 'daemon.log').read_text()[-2000:]}") from None
            time.sleep(0.2)
    return daemon, broker, ports, workdir / "daemon.log"


def start_echo() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    return subprocess.Popen([sys.executable, __file__, "--echo", str(port)]), port


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    daemon, broker, ports, log_path = start_stack(workdir, args.fleet)
    echo_proc, echo_port = start_echo()
    try:
        miner = HonestMiner(ports.stratum)
        await miner.connect()
        echo = EchoProbe(echo_port)
        await echo.connect()
        await asyncio.sleep(args.warmup_s)  # the fleet comes up; MQTT connects
        baseline = await measure("baseline", args.before_s, daemon.pid, miner, echo, args.rate)
        results: dict[str, Any] = {"baseline": asdict(baseline), "attacks": {}}
        print(f"baseline: cpu {baseline.cpu_core:.1%}, rss {baseline.rss_mb:.0f} MB, p99 {_ms(baseline.p99_ms)} ms "
              f"(echo reference p99 {_ms(baseline.echo_p99_ms)} ms, load {baseline.loadavg_1m:.1f})", flush=True)
        for name in args.attacks:
            before = await measure("before", args.before_s, daemon.pid, miner, echo, args.rate)
            await asyncio.sleep(1.0)  # the metrics snapshot trails by up to 0.5 s
            shares0 = honest_shares(ports)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--attacker", name, "--ports", json.dumps(list(asdict(ports).values())),
                "--attack-s", str(args.attack_s), stdout=asyncio.subprocess.PIPE)
            during = await measure("during", args.attack_s, daemon.pid, miner, echo, args.rate)
            out, _ = await proc.communicate()
            await asyncio.sleep(1.0)
            # shares counted for device "honest" beyond the honest miner's own (a submit whose reply came after
            # its 2 s timeout may still have been accepted: those count as the honest miner's)
            spoof_counted = max(0.0, honest_shares(ports) - shares0 - during.verdicts.get("accepted", 0)
                                - during.lost)
            await asyncio.sleep(args.recover_s)
            after = await measure("after", args.after_s, daemon.pid, miner, echo, args.rate)
            pings = await mqtt_pings(ports)
            entry = {"attacker": json.loads(out or b"{}"), "before": asdict(before), "during": asdict(during),
                     "after": asdict(after), "pings": pings, "spoofed_shares_counted": spoof_counted,
                     "daemon_alive": daemon.poll() is None, "gc": await daemon_gc(ports)}
            results["attacks"][name] = entry
            print(f"{name}: during p99 {_ms(during.p99_ms)} ms (echo {_ms(during.echo_p99_ms)} ms, load "
                  f"{during.loadavg_1m:.1f}; {during.over_10ms}/{during.submits} >= 10 ms, lost {during.lost}), "
                  f"cpu {before.cpu_core:.1%} -> {during.cpu_core:.1%} -> {after.cpu_core:.1%}, "
                  f"rss {before.rss_mb:.0f} -> {during.rss_mb:.0f} -> {after.rss_mb:.0f} MB, pings {pings}/3, "
                  f"attacker {entry['attacker']}, gc so far {entry['gc']}", flush=True)
        results["honest_reconnects"] = miner.reconnects
        results["ping_errors"] = PING_ERRORS
        log_text = log_path.read_text(errors="replace")
        results["daemon_mqtt_lines"] = [ln for ln in log_text.splitlines() if "asicrc.mqtt" in ln][-20:]
        log = log_path.read_text(errors="replace")
        results["daemon_log"] = {"tracebacks": log.count("Traceback"), "errors": log.count(" ERROR "),
                                 "lines": log.count("\n")}
        return results
    finally:
        echo_proc.terminate()
        echo_proc.wait(10)
        daemon.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(30)
        if daemon.poll() is None:
            daemon.kill()
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def verdict(results: dict[str, Any]) -> list[str]:
    misses = []
    base = results["baseline"]
    for name, e in results["attacks"].items():
        d, a, b = e["during"], e["after"], e["before"]
        if d["p99_ms"] is None or d["p99_ms"] >= 10.0 or d["lost"]:
            misses.append(f"{name}: honest p99 during {d['p99_ms']} ms, {d['lost']} submits lost (goal < 10 ms)")
        if a["cpu_core"] > 2 * max(base["cpu_core"], 0.01):
            misses.append(f"{name}: CPU after {a['cpu_core']:.1%} > 2 x baseline {base['cpu_core']:.1%}")
        if a["rss_mb"] > b["rss_mb"] + 20:
            misses.append(f"{name}: RSS after {a['rss_mb']:.0f} MB > before {b['rss_mb']:.0f} + 20 MB")
        if e["pings"] != 3 or not e["daemon_alive"]:
            misses.append(f"{name}: {e['pings']}/3 MQTT pings answered, daemon alive {e['daemon_alive']}")
        if e["spoofed_shares_counted"] > 0:
            misses.append(f"{name}: {e['spoofed_shares_counted']:g} shares counted for 'honest' beyond its own")
    if results["daemon_log"]["tracebacks"]:
        misses.append(f"daemon logged {results['daemon_log']['tracebacks']} tracebacks")
    return misses


def markdown(results: dict[str, Any]) -> str:
    """The per-window table docs/benchmarks.md quotes (honest submit latency, the echo reference, CPU, RSS)."""
    rows = ["| attack | window | honest p50 / p99 / max ms | >= 10 ms | echo p99 ms | load 1 min | daemon CPU | RSS MB |",
            "|---|---|---|---|---|---|---|---|"]

    def row(name: str, w: dict[str, Any]) -> str:
        return (f"| {name} | {w['name']} | {_ms(w['p50_ms'])} / {_ms(w['p99_ms'])} / {_ms(w['max_ms'])} | "
                f"{w['over_10ms']}/{w['submits']} | {_ms(w['echo_p99_ms'])} | {w['loadavg_1m']:.1f} | "
                f"{w['cpu_core']:.1%} | {w['rss_mb']:.0f} |")

    rows.append(row("(none)", results["baseline"]))
    for name, e in results["attacks"].items():
        rows += [row(name, e[w]) for w in ("before", "during", "after")]
    lines = ["\n".join(rows), ""]
    for name, e in results["attacks"].items():
        lines.append(f"- {name}: attacker {e['attacker']}; MQTT pings after {e['pings']}/3; shares counted for "
                     f"'honest' beyond its own {e['spoofed_shares_counted']:g}; daemon gc so far {e.get('gc', {})}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attacks", default=",".join(ATTACKS), help=f"comma list of {', '.join(ATTACKS)}")
    ap.add_argument("--rate", type=float, default=10.0, help="honest submits per second")
    ap.add_argument("--fleet", choices=("none", "default"), default="none",
                    help="none: the pool, MQTT, Prometheus and the honest device only (the defences alone); "
                         "default: plus the embedded simulated S9/LV06/LB-Box, which run inside the daemon")
    ap.add_argument("--warmup-s", type=float, default=15.0)
    ap.add_argument("--before-s", type=float, default=10.0)
    ap.add_argument("--attack-s", type=float, default=15.0)
    ap.add_argument("--recover-s", type=float, default=30.0, help="quiet time before the 'after' window")
    ap.add_argument("--after-s", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true", help="short windows (a smoke run, not for the docs)")
    ap.add_argument("--json", type=Path, help="write the full results here")
    ap.add_argument("--markdown", action="store_true", help="print the per-window table for docs/benchmarks.md")
    ap.add_argument("--attacker", choices=ATTACKS, help=argparse.SUPPRESS)
    ap.add_argument("--ports", help=argparse.SUPPRESS)
    ap.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attacker:
        return run_attacker(args)
    if args.echo:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(echo_server(args.echo))
        return 0
    args.attacks = [a for a in args.attacks.split(",") if a]
    if unknown := set(args.attacks) - set(ATTACKS):
        ap.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    if args.quick:
        args.warmup_s, args.before_s, args.attack_s, args.recover_s, args.after_s = 8.0, 4.0, 6.0, 5.0, 4.0
    results = asyncio.run(run_bench(args))
    results["machine"] = {"nproc": os.cpu_count(), "loadavg": os.getloadavg(), "fleet": args.fleet}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.markdown:
        print(markdown(results))
    misses = verdict(results)
    print("goals:", "all met" if not misses else "MISSED")
    for m in misses:
        print("  -", m)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
