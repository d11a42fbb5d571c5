"""`asicrc stratum` as a user runs it: share check (slush example) and serve (pool, then a proxy to it)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from asicrc.drivers.sim.cpuminer import find_shares
from asicrc.drivers.stratum.client import StratumClient

NOTIFY = json.dumps([
    "bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000",
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008",
    "072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",
    [], "00000002", "1c2ac4af", "504e86b9", False])
ASICRC = [sys.executable, "-m", "asicrc.daemon.cli", "stratum"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASICRC, *args], capture_output=True, text=True, timeout=60)


def test_share_reproduces_slush_example() -> None:
    proc = run_cli("share", "--notify", NOTIFY, "--extranonce1", "08000002",
                   "--submit", '["slush.miner1","bf","00000001","504e86ed","b2957c02"]')
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["hash"] == "000000002076870fe65a2b6eeed84fa892c0db924f1482243a6247d931dcab32"
    assert out["header"].startswith("02000000f8b6164d") and out["header"].endswith("afc42a1c027c95b2")
    assert 7.88 < out["difficulty"] < 7.89 and out["meets_nbits_target"] is True


def test_share_version_bits_and_bad_input() -> None:
    proc = run_cli("share", "--notify", NOTIFY, "--extranonce1", "08000002", "--version-mask", "1fffe000",
                   "--submit", '{"id":4,"method":"mining.submit","params":["w","bf","00000001","504e86ed",'
                   '"b2957c02","00002000"]}')
    out = json.loads(proc.stdout)
    assert out["version"] == "00002002" and out["hash"] != "000000002076870fe65a2b6eeed84fa892c0db924f1482243a6247d931dcab32"
    for args, needle in [
        (["--notify", "[1,2]", "--extranonce1", "00", "--submit", "[]"], "9 params"),
        (["--notify", "{bad", "--extranonce1", "00", "--submit", "[]"], "not valid JSON"),
        (["--notify", NOTIFY, "--extranonce1", "xx", "--submit", '["w","bf","00000001","504e86ed","b2957c02"]'],
         "must be hex"),
        (["--notify", NOTIFY, "--extranonce1", "00", "--submit", '["w","bf","00000001","504e86ed","zz"]'],
         "nonce"),
    ]:
        proc = run_cli("share", *args)
        assert proc.returncode == 1 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(*ASICRC, "serve", "--port", "0", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    assert m, line
    return proc, int(m.group(1))


async def _stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 20)


async def test_serve_pool_and_proxy() -> None:
    pool, pool_port = await _start("--difficulty", "0.0001", "--print-shares")
    proxy, proxy_port = await _start("--difficulty", "0.00002", "--upstream", f"stratum+tcp://127.0.0.1:{pool_port}",
                                     "--allow", "rig:pw")
    try:
        client = StratumClient("127.0.0.1", proxy_port, "rig.1", "pw")
        await client.connect()
        job = await client.wait_job(timeout_s=10)
        share = find_shares(job, b"\x01\x00", 1, difficulty=0.0001)[0]
        res = await client.submit(share.job_id, share.extranonce2, share.ntime, share.nonce)
        assert res.accepted
        await client.close()
        # the pool printed the forwarded share, submitted by the proxy's upstream worker
        assert pool.stdout is not None
        ev = json.loads(await asyncio.wait_for(pool.stdout.readline(), 10))  # stdout's first line is JSON
        assert ev["verdict"] == "accepted" and ev["worker"] == "asicrc" and ev["nonce"] == share.nonce
    finally:
        assert await _stop(proxy) == 0
        assert await _stop(pool) == 0


def test_share_bad_input_names_the_right_argument(capsys: pytest.CaptureFixture[str]) -> None:
    from asicrc.daemon.cli import main

    good_submit = '["w","bf","00000001","504e86ed","b2957c02"]'
    for args, expected in [
        (["--notify", "{bad", "--extranonce1", "00", "--submit", "[]"], "error: --notify is not valid JSON"),
        (["--notify", NOTIFY, "--extranonce1", "00", "--submit", "[1"], "error: --submit is not valid JSON"),
        (["--notify", NOTIFY, "--extranonce1", "xx", "--submit", good_submit], "error: --extranonce1 must be hex"),
        (["--notify", NOTIFY, "--extranonce1", "00", "--submit", good_submit, "--version-mask", "zz"],
         "error: --version-mask must be hex"),
    ]:
        assert main(["stratum", "share", *args]) == 1
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err


def test_serve_rejects_negative_job_interval(capsys: pytest.CaptureFixture[str]) -> None:
    from asicrc.daemon.cli import main

    assert main(["stratum", "serve", "--port", "0", "--job-interval", "-1"]) == 1
    assert "--job-interval must be >= 0" in capsys.readouterr().err
    assert main(["stratum", "serve", "--port", "0", "--max-share-keys", "0"]) == 1
    err = capsys.readouterr().err
    assert "max_share_keys must be >= 1" in err and err.count("\n") == 1, err
    assert main(["stratum", "serve", "--port", "0", "--upstream", "127.0.0.1:1", "--upstream-timeout", "0"]) == 1
    err = capsys.readouterr().err
    assert "--upstream-timeout must be > 0" in err and err.count("\n") == 1, err


def test_serve_unreachable_upstream_is_one_line_without_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import free_port

    from asicrc.daemon.cli import main

    port = free_port()  # closed
    assert main(["stratum", "serve", "--port", "0", "--upstream", f"stratum+tcp://u:s3cret@127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot reach the upstream pool (127.0.0.1:{port}): " in err and err.count("\n") == 1, err
    assert "s3cret" not in err
