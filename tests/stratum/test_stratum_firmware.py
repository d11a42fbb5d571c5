"""The pool against ESP-Miner's own Stratum behaviour (issue 18): pong as a request, a new version mask applied
only from the next notify, `version_bits = rolled ^ job_version` for a job version with bits inside the mask,
and mining.suggest_difficulty under the honour / floor / ignore policies (a control hook always wins).

Each firmware behaviour is replayed byte for byte by tests/stratum/firmware_peer.py over loopback, with real
sha256d shares; every acceptance check has a negative beside it (out-of-mask bits, work that was not hashed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from firmware_peer import FirmwarePeer

from asicrc.drivers.stratum.jobs import TemplateJobSource
from asicrc.drivers.stratum.server import ServerConfig, StratumServer, SuggestPolicy
from asicrc.drivers.stratum.work import candidate_versions
from asicrc.reservoir.rate_encoding import rate_encoded_difficulty

DIFF = 1 / 65536  # ~1 share per 65536 hashes: a share takes ~20 ms of C-core search
SIGNALLING = 0x20002000  # a job version with BIP9/BIP320 bit 13 set (soft-fork signalling)
MASK = 0x1FFFE000


async def start_pool(version: int = 0x20000000, policy: SuggestPolicy = "ignore",
                     difficulty: float = DIFF) -> StratumServer:
    server = StratumServer(ServerConfig(difficulty=difficulty, job_interval_s=0, min_difficulty=1e-9,
                                        suggest_difficulty=policy),
                           job_source=TemplateJobSource(8, version=version, seed=7))
    await server.start()
    return server


@pytest.fixture
async def pool() -> AsyncIterator[StratumServer]:
    server = await start_pool()
    try:
        yield server
    finally:
        await server.stop()


def conn_of(server: StratumServer, user: str) -> int:
    return next(c.id for c in server.active_connections() if user in c.workers)


def test_candidate_versions_are_the_two_readings_only_when_they_differ() -> None:
    assert candidate_versions(0x20000000, 0x00006000, MASK) == (0x20006000,)  # no job bits in the mask: one
    assert candidate_versions(SIGNALLING, None, MASK) == (SIGNALLING,)
    # ESP-Miner's 0x4000 (the bit it set beyond the job's): BIP310 reading clears bit 13, the other keeps it
    assert candidate_versions(SIGNALLING, 0x00004000, MASK) == (0x20004000, 0x20006000)
    # the BIP310 form of the same header (all rolled bits, job bit included) needs no second reading
    assert candidate_versions(SIGNALLING, 0x00006000, MASK) == (0x20006000,)


async def test_pong_request_is_the_answer_to_mining_ping(pool: StratumServer) -> None:
    peer = FirmwarePeer(pool.port, "bitaxe")
    await peer.connect()
    await peer.wait_job()
    rtt = await pool.ping(conn_of(pool, "bitaxe"), timeout_s=2.0)
    assert 0 < rtt < 2.0 and peer.pings_answered == 1
    await asyncio.sleep(0.05)
    assert peer.unexpected == [] and pool.stats["malformed"] == 0  # no "Unknown method 'pong'" sent back
    # a pong for a ping that already timed out is counted, not answered
    peer._send('{"id":123,"method":"pong","params":[]}')
    await asyncio.sleep(0.05)
    assert peer.unexpected == [] and pool.stats["late_pongs"] == 1
    await peer.close()


@pytest.mark.parametrize("form", ["esp-miner", "bip310"])
async def test_version_bits_on_a_signalling_job_both_forms(form: str) -> None:
    server = await start_pool(version=SIGNALLING)
    try:
        peer = FirmwarePeer(server.port, "bitaxe")
        await peer.connect(suggest=None)
        job = await peer.wait_job()
        assert job.version == SIGNALLING and peer.version_mask == MASK
        chip_bits = 0x00004000  # the chip rolled bit 14; it hashes job | bits = 0x20006000
        en2 = bytes(peer.extranonce2_size)
        nonces = peer.find(job, en2, chip_bits, count=3)
        hashed = job.version | chip_bits
        sent = hashed ^ job.version if form == "esp-miner" else hashed & MASK  # 0x4000 or 0x6000
        shares = server.fanout.subscribe(kinds={"share"})
        reply = await peer.submit(job, en2, nonces[0], sent)
        assert reply["result"] is True and reply["error"] is None, reply
        event = shares.get_nowait_all()[-1]
        assert event.data["verdict"] == "accepted"
        # the same work in the other form is the same header: a duplicate, never credited twice
        other = hashed & MASK if form == "esp-miner" else hashed ^ job.version
        dup = await peer.submit(job, en2, nonces[0], other)
        assert dup["error"][0] == 22, dup
        # negative: bits outside the mask (bit 12, or the top bits) are refused before any hashing
        for bad in (sent | 0x00001000, sent | 0x80000000):
            out = await peer.submit(job, en2, nonces[1], bad)
            assert out["error"][0] == 20 and "mask" in out["error"][1], out
        # negative: a nonce the chip found for bit 14, claimed for bit 15 (work that was not hashed)
        wrong = await peer.submit(job, en2, nonces[2], 0x00008000 if form == "esp-miner" else 0x0000A000)
        assert wrong["error"][0] == 23, wrong
        await peer.close()
    finally:
        await server.stop()


async def test_version_mask_change_graces_jobs_sent_before_it(pool: StratumServer) -> None:
    peer = FirmwarePeer(pool.port, "bitaxe")
    await peer.connect(suggest=None)
    old = await peer.wait_job()
    cid = conn_of(pool, "bitaxe")
    pool.set_version_mask(cid, 0x00FFE000)  # narrower: bit 28 no longer allowed for new jobs
    await asyncio.sleep(0.05)
    assert peer.version_mask == MASK  # firmware still works with the old mask until the next notify
    en2 = bytes(peer.extranonce2_size)
    n_old = peer.find(old, en2, 0x10000000, count=2)
    reply = await peer.submit(old, en2, n_old[0], 0x10000000)  # old job, old mask: accepted (grace)
    assert reply["result"] is True, reply
    pool.push_job(cid, clean=False)
    new = await peer.wait_job(newer_than=old)
    assert peer.version_mask == 0x00FFE000
    # on the job sent after the change, the old-only bit is out of the mask
    n_new = peer.find(new, en2, 0x10000000)
    out = await peer.submit(new, en2, n_new[0], 0x10000000)
    assert out["error"][0] == 20 and "mask" in out["error"][1], out
    # and a share of the old job under the old mask is still fine (work already on the chip)
    assert (await peer.submit(old, en2, n_old[1], 0x10000000))["result"] is True
    await peer.close()


@pytest.mark.parametrize(("policy", "suggest", "expected"), [
    ("ignore", 1000.0, DIFF), ("ignore", DIFF / 4, DIFF),
    ("honour", 1000.0, 1000.0), ("honour", DIFF / 4, DIFF / 4),
    ("floor", 1000.0, 1000.0), ("floor", DIFF / 4, DIFF),
])
async def test_suggest_difficulty_policy(policy: SuggestPolicy, suggest: float, expected: float) -> None:
    server = await start_pool(policy=policy)
    try:
        peer = FirmwarePeer(server.port, "bitaxe")
        await peer.connect(suggest=suggest)  # stock firmware suggests right after authorize
        await peer.wait_job()
        await asyncio.sleep(0.05)
        conn = server.connection(conn_of(server, "bitaxe"))
        assert conn.difficulty == pytest.approx(expected)
        assert peer.difficulty == pytest.approx(expected)
        await peer.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("policy", ["honour", "floor"])
async def test_a_control_hook_pins_difficulty_against_later_suggestions(policy: SuggestPolicy) -> None:
    server = await start_pool(policy=policy)
    try:
        peer = FirmwarePeer(server.port, "bitaxe")
        await peer.connect(suggest=None)
        await peer.wait_job()
        cid = conn_of(server, "bitaxe")
        # the reservoir's rate encoding drives difficulty through the set_difficulty hook
        d = server.set_difficulty(cid, rate_encoded_difficulty(0.5, DIFF, d_min=1e-9))
        await peer.request('{"id":%d,"method":"mining.suggest_difficulty","params":[1000]}')
        await peer.request('{"id":%d,"method":"mining.suggest_target","params":["' + "0" * 8 + "f" * 56 + '"]}')
        await asyncio.sleep(0.05)
        assert server.connection(cid).difficulty == pytest.approx(d) and peer.difficulty == pytest.approx(d)
        assert server.stats["suggestions_ignored"] == 2
        await peer.close()
    finally:
        await server.stop()


async def test_a_reconnecting_device_keeps_the_difficulty_an_experiment_set() -> None:
    server = await start_pool(policy="honour")  # the policy most likely to lose the experiment's input
    try:
        peer = FirmwarePeer(server.port, "bitaxe")
        await peer.connect(suggest=None)
        await peer.wait_job()
        d = server.set_difficulty(conn_of(server, "bitaxe"), rate_encoded_difficulty(0.3, DIFF, d_min=1e-9))
        await peer.close()
        # ESP-Miner reconnects (client.reconnect, a Wi-Fi blip, its watchdog) and suggests 1000 right after authorize
        again = FirmwarePeer(server.port, "bitaxe")
        await again.connect(suggest=1000.0)
        await again.wait_job()
        await asyncio.sleep(0.05)
        conn = server.connection(conn_of(server, "bitaxe"))
        assert conn.difficulty == pytest.approx(d) and again.difficulty == pytest.approx(d) and d != DIFF
        # negative control: another device on the same pool gets what the honour policy gives it
        other = FirmwarePeer(server.port, "lv06")
        await other.connect(suggest=1000.0)
        await other.wait_job()
        await asyncio.sleep(0.05)
        assert other.difficulty == 1000.0
        # released (the experiment is over): the next connection of the device is an ordinary one again
        server.release_difficulty(conn.device)
        await again.close()
        third = FirmwarePeer(server.port, "bitaxe")
        await third.connect(suggest=1000.0)
        await third.wait_job()
        await asyncio.sleep(0.05)
        assert third.difficulty == 1000.0
        for p in (other, third):
            await p.close()
    finally:
        await server.stop()
