"""4028 RPC client and cgminer parsers against a real loopback server with bmminer reply shapes."""

from __future__ import annotations

import asyncio
import copy
import os
import time

import pytest
from conftest import free_port
from drivers_fakes import LB_DEVS, S9_SUMMARY, S9_VERSION, FakeRpc, rpc_bytes, s9_stats

from asicrc.drivers.api import ApiStatusError, MalformedReply, TransportError
from asicrc.drivers.api.cgminer import parse_devs, parse_pools, parse_stats, parse_summary, parse_version
from asicrc.drivers.api.rpc4028 import decode_reply, rpc_request


@pytest.fixture
async def rpc():
    server = FakeRpc({"stats": rpc_bytes(s9_stats()), "summary": rpc_bytes(S9_SUMMARY),
                      "version": rpc_bytes(S9_VERSION)})
    await server.start()
    yield server
    await server.stop()


async def test_stats_over_tcp_with_nul_terminator(rpc: FakeRpc) -> None:
    reply = await rpc_request("127.0.0.1", rpc.port, "stats")
    tel = parse_stats(reply)
    assert rpc.requests == [{"command": "stats"}]
    assert tel["chains"] == [6, 7, 8]
    assert tel["chips"] == [63, 63, 63]
    assert tel["temp_chip_c"] == [71.0, 73.0, 70.0]
    assert tel["temp_board_c"] == [55.0, 57.0, 54.0]
    assert tel["fan_rpm"] == [5880.0, 6120.0]  # empty slots (0) dropped
    assert tel["frequency_hz"] == 650e6
    assert tel["hashrate_hs"] == pytest.approx((4466.53 + 4523.10 + 4522.70) * 1e9)
    assert tel["hw_errors"] == 36
    assert tel["chips_ok"] == [63, 63, 63]
    assert tel["miner_type"] == "Antminer S9"


async def test_old_bmminer_brace_quirk(rpc: FakeRpc) -> None:
    rpc.replies["stats"] = rpc_bytes(s9_stats(), quirk=True)
    assert b"}{" in rpc.replies["stats"]
    tel = parse_stats(await rpc_request("127.0.0.1", rpc.port, "stats"))
    assert tel["temp_chip_c"] == [71.0, 73.0, 70.0]


def test_trailing_bytes_after_nul_ignored() -> None:
    reply = decode_reply(rpc_bytes(S9_SUMMARY) + b"junk", "summary")
    assert parse_summary(reply)["hashrate_hs"] == pytest.approx(13512.33e9)


def test_summary_and_version() -> None:
    s = parse_summary(S9_SUMMARY)
    assert s == {"hashrate_hs": pytest.approx(13512.33e9), "hw_errors": 36, "shares_accepted": 4102,
                 "shares_rejected": 3, "uptime_s": 3600}
    v = parse_version(S9_VERSION)
    assert (v.miner_type, v.firmware, v.api) == ("Antminer S9", "BMMiner 2.0.0", "3.1")


def test_multi_command_reply() -> None:
    combined = {"summary": [S9_SUMMARY], "stats": [s9_stats()]}
    raw = rpc_bytes(combined)
    reply = decode_reply(raw, "summary+stats")
    assert parse_summary(reply)["hw_errors"] == 36
    assert parse_stats(reply)["chips"] == [63, 63, 63]


def test_devs_and_pools() -> None:
    d = parse_devs(LB_DEVS)
    assert d["hashrate_hs"] == pytest.approx(176230.1e6)  # MHS 20s preferred over MHS av (5s absent)
    assert d["temp_chip_c"] == [61.0] and d["temp_board_c"] == [45.0] and d["fan_rpm"] == [3150.0]
    pools = parse_pools({"STATUS": [{"STATUS": "S"}], "POOLS": [
        {"POOL": 0, "URL": "stratum+tcp://127.0.0.1:3333", "Status": "Alive", "User": "w", "Accepted": 5,
         "Rejected": 1}]})
    assert pools == [{"url": "stratum+tcp://127.0.0.1:3333", "status": "Alive", "user": "w", "accepted": 5,
                      "rejected": 1}]


def status_ok() -> list[dict]:
    return [{"STATUS": "S", "Msg": "ok"}]


def _stats_with(edit) -> dict:
    obj = copy.deepcopy(s9_stats())
    edit(obj["STATS"][1])
    return obj


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        (_stats_with(lambda b: b.update({"temp2_7": "hot"})), "field 'temp2_7': expected a number, got 'hot'"),
        (_stats_with(lambda b: b.update({"chain_rate6": {"GH": 1}})), "field 'chain_rate6': expected a number, got dict"),
        (_stats_with(lambda b: b.update({"chain_acn7": "x"})), "field 'chain_acn7'"),
        (_stats_with(lambda b: b.update({"fan3": [1]})), "field 'fan3': expected a number, got list"),
        (_stats_with(lambda b: b.update({"frequency": True})), "got a boolean"),
        (_stats_with(lambda b: [b.pop(k) for k in list(b) if k.startswith(("chain_acn", "frequency", "GHS"))]),
         "no driver block"),
        ({"STATUS": status_ok(), "STATS": "nope"}, "expected a JSON array"),
        ({"STATUS": status_ok()}, "missing section 'STATS'"),
    ],
)
def test_malformed_stats_are_clear(reply: dict, needle: str) -> None:
    with pytest.raises(MalformedReply) as info:
        parse_stats(reply)
    assert needle in str(info.value)


def test_malformed_summary_and_status_errors() -> None:
    with pytest.raises(MalformedReply, match="no hashrate field"):
        parse_summary({"STATUS": status_ok(), "SUMMARY": [{"Accepted": 1}]})
    with pytest.raises(MalformedReply, match="SUMMARY is empty"):
        parse_summary({"STATUS": status_ok(), "SUMMARY": []})
    with pytest.raises(ApiStatusError, match="Invalid command"):
        decode_reply(rpc_bytes({"STATUS": [{"STATUS": "E", "Msg": "Invalid command"}]}), "x")
    with pytest.raises(MalformedReply, match="not JSON"):
        decode_reply(b'{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"GHS 5s":}\0', "summary")
    with pytest.raises(MalformedReply, match="empty reply"):
        decode_reply(b"\0", "summary")
    with pytest.raises(MalformedReply, match="no STATUS"):
        decode_reply(b'{"foo": 1}\0', "summary")


async def test_unknown_command_is_api_status_error(rpc: FakeRpc) -> None:
    with pytest.raises(ApiStatusError, match="Invalid command"):
        await rpc_request("127.0.0.1", rpc.port, "ascset", "0,freq,700")


async def test_garbage_disconnect_refused_and_timeout(rpc: FakeRpc) -> None:
    rpc.mode = "garbage"
    with pytest.raises(MalformedReply):
        await rpc_request("127.0.0.1", rpc.port, "stats")
    rpc.mode = "close"
    with pytest.raises(MalformedReply, match="empty reply"):
        await rpc_request("127.0.0.1", rpc.port, "stats")
    rpc.mode = "hang"
    t0 = time.monotonic()
    with pytest.raises(TransportError, match=r"no complete reply within 0\.3 s"):
        await rpc_request("127.0.0.1", rpc.port, "stats", timeout_s=0.3)
    assert time.monotonic() - t0 < 2.0
    with pytest.raises(TransportError, match=r"4028 stats to 127\.0\.0\.1"):
        await rpc_request("127.0.0.1", free_port(), "stats")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_refused_names_the_reason_and_a_host_name_is_resolved(rpc: FakeRpc) -> None:
    with pytest.raises(TransportError, match=r"4028 stats to 127\.0\.0\.1:\d+: Connection refused"):
        await rpc_request("127.0.0.1", free_port(), "stats")
    reply = await rpc_request("localhost", rpc.port, "version")  # a name goes through the loop's resolver
    assert parse_version(reply).miner_type == "Antminer S9"
    with pytest.raises(TransportError, match=r"4028 stats to no-such-host\.invalid:4028: "):
        await rpc_request("no-such-host.invalid", 4028, "stats", timeout_s=2.0)


async def test_timeouts_and_cancellation_leave_no_socket_behind(rpc: FakeRpc) -> None:
    """Every way an exchange can end (reply, deadline, the poll task cancelled mid-read) unregisters its socket
    from the loop (a registered callback would keep it open) and closes it: a fleet daemon makes millions of these."""
    await rpc_request("127.0.0.1", rpc.port, "stats")
    before = _open_fds()
    for _ in range(20):
        await rpc_request("127.0.0.1", rpc.port, "stats")
    rpc.mode = "hang"
    for _ in range(5):
        with pytest.raises(TransportError, match=r"no complete reply within 0\.05 s"):
            await rpc_request("127.0.0.1", rpc.port, "stats", timeout_s=0.05)
    tasks = [asyncio.create_task(rpc_request("127.0.0.1", rpc.port, "stats")) for _ in range(10)]
    await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert all(t.cancelled() for t in tasks)
    rpc.release.set()  # the server side of the hung exchanges (same process) closes too
    for _ in range(250):  # however long a loaded machine takes to run those closes (a leak never gets there)
        if _open_fds() <= before:
            break
        await asyncio.sleep(0.02)
    assert _open_fds() <= before
    rpc.mode = "ok"
    assert parse_stats(await rpc_request("127.0.0.1", rpc.port, "stats"))["chains"] == [6, 7, 8]
