"""Stratum server benchmark: accepted shares/s with 50 concurrent loopback miners replaying pre-computed valid
shares, and p50/p99 submit->response latency at a paced 1k shares/s.

The server runs as a real `asicrc stratum serve` process (one Python thread, so one core). Reference measured in
the same run on the same connections: `mining.ping` (framing + JSON + reply, no share validation), so
"submit/ping" is the cost of validation itself. Server CPU seconds come from /proc, so shares per server
CPU-second is meaningful even on a loaded machine.

    .venv/bin/python bench/bench_stratum.py [--miners 50] [--shares 400] [--reps 3] [--rate 1000] [--seconds 5]
Goals (issue 3): >= 10k shares/s on one core; p99 < 5 ms at 1k shares/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asicrc.drivers.stratum.work import Notify, build_header, rolled_version
from asicrc.native import difficulty_batch

DIFFICULTY = 1e-9  # ~23 % of nonces are valid shares: pre-computing thousands is instant


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Miner:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    submits: list[bytes]
    pings: list[bytes]


async def read_json(reader: asyncio.StreamReader, want_id: int | None = None) -> dict[str, Any]:
    while True:
        msg: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), 30))
        if want_id is None or msg.get("id") == want_id:
            return msg


async def open_miner(port: int, index: int, n_shares: int) -> Miner:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    user = f"bench.{index}"
    writer.write(b'{"id":1,"method":"mining.configure","params":[["version-rolling"],'
                 b'{"version-rolling.mask":"1fffe000"}]}\n')
    mask = int((await read_json(reader, 1))["result"]["version-rolling.mask"], 16)
    writer.write(b'{"id":2,"method":"mining.subscribe","params":["bench"]}\n')
    sub = (await read_json(reader, 2))["result"]
    en1, en2_size = bytes.fromhex(sub[1]), sub[2]
    writer.write(json.dumps({"id": 3, "method": "mining.authorize", "params": [user, "x"]}).encode() + b"\n")
    notify = None
    while notify is None:
        msg = await read_json(reader)
        if msg.get("method") == "mining.notify":
            notify = Notify.from_params(msg["params"])
    # pre-compute valid shares: several extranonce2 values and version bits, all distinct
    submits: list[bytes] = []
    rid = 10
    en2_counter = 0
    while len(submits) < n_shares:
        en2_counter += 1
        en2 = en2_counter.to_bytes(en2_size, "little")
        vbits = (en2_counter << 13) & mask
        header = build_header(notify, en1, en2, version=rolled_version(notify.version, vbits, mask))
        nonces = np.arange(4096, dtype=np.uint32)
        diffs = difficulty_batch(header, nonces)
        assert isinstance(diffs, np.ndarray)
        for nonce in nonces[diffs >= DIFFICULTY][: n_shares - len(submits)]:
            params = [user, notify.job_id, en2.hex(), f"{notify.ntime:08x}", f"{int(nonce):08x}", f"{vbits:08x}"]
            submits.append(json.dumps({"id": rid, "method": "mining.submit", "params": params}).encode() + b"\n")
            rid += 1
    pings = [b'{"id":%d,"method":"mining.ping","params":[]}\n' % (rid + i) for i in range(n_shares)]
    return Miner(reader, writer, submits, pings)


async def blast(miner: Miner, lines: list[bytes], window: int) -> int:
    """Send lines keeping `window` outstanding; return how many replies had result true/"pong"."""
    ok = 0
    sent = 0
    received = 0
    while received < len(lines):
        while sent < len(lines) and sent - received < window:
            miner.writer.write(lines[sent])
            sent += 1
        line = await asyncio.wait_for(miner.reader.readline(), 30)
        if b'"id":null' in line:  # a server notification, not a reply
            continue
        received += 1
        ok += b'"result":true' in line or b'"pong"' in line
    return ok


async def throughput(pid: int, miners: list[Miner], kind: str, window: int) -> tuple[float, float, int]:
    """(replies/s wall, replies per server CPU-second, ok count)."""
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    oks = await asyncio.gather(*(blast(m, m.submits if kind == "submit" else m.pings, window) for m in miners))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    total = sum(len(m.submits if kind == "submit" else m.pings) for m in miners)
    return total / wall, total / max(cpu, 1e-9), sum(oks)


async def paced_latency(miners: list[Miner], lines_of: str, rate: float, seconds: float) -> np.ndarray:
    """Each miner sends at rate/len(miners) per second, one at a time; returns per-request latency (s)."""
    per_miner = rate / len(miners)
    n = int(per_miner * seconds)

    async def one(m: Miner, offset: float) -> list[float]:
        lines = (m.submits if lines_of == "submit" else m.pings)[-n:]
        out = []
        start = time.perf_counter() + offset
        for i, line in enumerate(lines):
            delay = start + i / per_miner - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            m.writer.write(line)
            while True:
                reply = await asyncio.wait_for(m.reader.readline(), 30)
                if b'"id":null' not in reply:
                    break
            out.append(time.perf_counter() - t0)
        return out

    res = await asyncio.gather(*(one(m, i / rate) for i, m in enumerate(miners)))
    return np.array([x for r in res for x in r])


async def main_async(args: argparse.Namespace) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asicrc.daemon.cli", "stratum", "serve", "--port", "0",
        "--difficulty", str(DIFFICULTY), "--job-interval", "0",
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        # the CLI announces its port on stderr (stdout is reserved for --print-shares JSON)
        line = ""
        while "listening on" not in line:
            raw = await asyncio.wait_for(proc.stderr.readline(), 60)
            if not raw:
                print("server exited before listening", file=sys.stderr)
                return 1
            line = raw.decode()
        m = re.search(r":(\d+)$", line.strip())
        if not m:
            print(f"server did not start: {line!r}", file=sys.stderr)
            return 1
        port = int(m.group(1))
        drain = asyncio.create_task(proc.stderr.read())  # a full pipe must never block the server
        n_lat = int(args.rate / args.miners * args.seconds)
        per_rep = args.shares
        miners = [await open_miner(port, i, per_rep * args.reps + n_lat) for i in range(args.miners)]
        all_submits = [m.submits for m in miners]
        all_pings = [m.pings for m in miners]
        ping_w, ping_c, sub_w, sub_c = [], [], [], []
        accepted_total = 0
        for rep in range(args.reps):  # fresh shares every repetition: a replayed share would be a duplicate
            for mi, subs, pings in zip(miners, all_submits, all_pings, strict=True):
                mi.submits = subs[rep * per_rep:(rep + 1) * per_rep]
                mi.pings = pings[rep * per_rep:(rep + 1) * per_rep]
            w, c, _ = await throughput(proc.pid, miners, "ping", args.window)
            ping_w.append(w)
            ping_c.append(c)
            w, c, accepted = await throughput(proc.pid, miners, "submit", args.window)
            sub_w.append(w)
            sub_c.append(c)
            accepted_total += accepted
        total = args.miners * per_rep * args.reps

        def fmt(xs: list[float]) -> str:
            return f"{np.median(xs):9.0f} [{min(xs):.0f}..{max(xs):.0f}]"

        print(f"miners={args.miners} shares/rep={args.miners * per_rep} reps={args.reps} window={args.window}"
              "  (median [min..max] over reps)")
        print(f"reference mining.ping : {fmt(ping_w)} replies/s wall   {fmt(ping_c)} per server CPU-s")
        print(f"mining.submit          : {fmt(sub_w)} shares/s wall    {fmt(sub_c)} per server CPU-s "
              f"(accepted {accepted_total}/{total})")
        sub_cpu = float(np.median(sub_c))
        print(f"ratio submit/ping      : {np.median(sub_w) / np.median(ping_w):9.3f} wall   "
              f"{sub_cpu / np.median(ping_c):9.3f} CPU")
        print(f"goal 10k shares/s/core : ratio {sub_cpu / 10_000:.2f} ({'met' if sub_cpu >= 10_000 else 'NOT met'})")
        for mi, subs, pings in zip(miners, all_submits, all_pings, strict=True):
            mi.submits, mi.pings = subs[per_rep * args.reps:], pings[per_rep * args.reps:]
        lat_ping = await paced_latency(miners, "ping", args.rate, args.seconds)
        lat_sub = await paced_latency(miners, "submit", args.rate, args.seconds)
        p_ping = np.percentile(lat_ping, [50, 99]) * 1e3
        p_sub = np.percentile(lat_sub, [50, 99]) * 1e3
        print(f"paced {args.rate:.0f}/s  ping   p50={p_ping[0]:.3f} ms p99={p_ping[1]:.3f} ms (n={lat_ping.size})")
        print(f"paced {args.rate:.0f}/s  submit p50={p_sub[0]:.3f} ms p99={p_sub[1]:.3f} ms (n={lat_sub.size}); "
              f"ratio p99 submit/ping {p_sub[1] / p_ping[1]:.2f}; goal p99 < 5 ms "
              f"{'met' if p_sub[1] < 5 else 'NOT met'}")
        for mi in miners:
            mi.writer.close()
        return 0 if accepted_total == total else 1
    finally:  # on every path, a timeout included: never leave the server running
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if drain is not None:
            await drain


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--miners", type=int, default=50)
    ap.add_argument("--shares", type=int, default=400, help="pre-computed shares per miner (throughput phase)")
    ap.add_argument("--window", type=int, default=16, help="outstanding submits per miner")
    ap.add_argument("--reps", type=int, default=3, help="repetitions of the throughput phase")
    ap.add_argument("--rate", type=float, default=1000.0, help="total paced rate for the latency phase")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each paced phase")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
