"""Management APIs of the simulated devices over real loopback sockets, and transport/physical fault injection."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from conftest import free_port

from asicrc.drivers.api.rpc4028 import decode_reply
from asicrc.drivers.clock import Clock
from asicrc.drivers.sim import Fault, SimLBBox, SimLV06, SimS9
from asicrc.drivers.stratum.server import ServerConfig, StratumServer


async def rpc(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5.0)
    writer.close()
    return data


async def test_s9_4028_commands_shapes_and_quirks() -> None:
    dev = SimS9(serial="S9-RPC", seed=1, clock=Clock(10.0))
    await dev.start()
    try:
        await asyncio.sleep(0.3)
        port = dev.ports["rpc"]
        raw = await rpc(port, b'{"command":"stats"}')
        assert raw.endswith(b"\0")
        assert b"}{" in raw  # old bmminer's missing comma between the two STATS objects
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw[:-1])
        stats = decode_reply(raw, "stats")["STATS"]
        assert stats[0]["Type"] == "Antminer S9"
        block = stats[1]
        for slot in (6, 7, 8):
            assert block[f"chain_acn{slot}"] == 63
            assert isinstance(block[f"chain_rate{slot}"], str)
            assert block[f"temp2_{slot}"] > block[f"temp{slot}"] > 25
        assert block["chain_acs1"] == "" and block["chain_rate1"] == ""
        assert block["fan5"] > 1000 and block["fan6"] > 1000 and block["fan1"] == 0
        both = decode_reply(await rpc(port, b'{"command":"summary+version"}'), "summary+version")
        assert set(both) == {"summary", "version"}
        assert both["version"][0]["VERSION"][0]["Type"] == "Antminer S9"
        plain = decode_reply(await rpc(port, b"devs|"), "devs")
        assert [d["ID"] for d in plain["DEVS"]] == [6, 7, 8]
        bad = json.loads((await rpc(port, b'{"command":"addpool"}'))[:-1])
        assert bad["STATUS"][0]["STATUS"] == "E" and bad["STATUS"][0]["Code"] == 14
        garbage = json.loads((await rpc(port, b'{"nocommand": 1}'))[:-1])
        assert garbage["STATUS"][0]["STATUS"] == "E"
        # transport fault: the next request is closed without an answer, the one after works
        dev.inject(Fault.rpc_disconnect())
        assert await rpc(port, b'{"command":"summary"}') == b""
        assert (await rpc(port, b'{"command":"summary"}')).endswith(b"\0")
        # a dead board shows in chain_acs/chain_acn and in the hashrate
        dev.inject(Fault.chain_death(1))
        await asyncio.sleep(0.8)  # > one 5 s (simulated) refresh period
        block = decode_reply(await rpc(port, b'{"command":"stats"}'), "stats")["STATS"][1]
        assert block["chain_acn7"] == 0 and set(block["chain_acs7"].replace(" ", "")) == {"x"}
        assert dev.physics.chain_hashrate_hs()[1] == 0.0
    finally:
        await dev.stop()


async def test_lv06_axeos_info_patch_faults_and_restart_gap() -> None:
    clock = Clock(10.0)
    dev = SimLV06(serial="LV06-HTTP", seed=2, clock=clock)
    await dev.start()
    base = f"http://127.0.0.1:{dev.ports['http']}"
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.sleep(0.2)
            async with http.get(base + "/api/system/info") as r:
                info = await r.json()
            assert info["ASICModel"] == "BM1366" and info["frequency"] == 485
            assert info["coreVoltage"] == 1200 and 11000 < info["voltage"] < 13000  # mV
            assert 20 < info["temp"] < 90 and info["fanrpm"] > 0 and 5 < info["power"] < 30
            async with http.get(base + "/api/system/asic") as r:
                assert 485 in (await r.json())["frequencyOptions"]
            async with http.patch(base + "/api/system", json={"frequency": 550, "coreVoltage": 1250}) as r:
                assert r.status == 200 and (await r.json())["status"] == "success"
            assert dev.physics.freq_hz[0] == 550e6 and dev.physics.voltage_v[0] == pytest.approx(1.25)
            async with http.patch(base + "/api/system", json={"frequency": "fast"}) as r:
                assert r.status == 400 and "frequency" in (await r.json())["message"]
            async with http.patch(base + "/api/system", json={"frequency": 500, "bogus": 1}) as r:
                assert r.status == 400
            assert dev.physics.freq_hz[0] == 550e6  # nothing applied from a refused request
            async with http.patch(base + "/api/system", json={"fanspeed": 80, "autofanspeed": 0}) as r:
                assert r.status == 200
            assert not dev.physics.fan_auto and dev.physics.fan_percent == 80
            dev.inject(Fault.http_500(count=2))
            for _ in range(2):
                async with http.get(base + "/api/system/info") as r:
                    assert r.status == 500
            async with http.get(base + "/api/system/info") as r:
                assert r.status == 200
            dev.inject(Fault.http_timeout(seconds=2.0))
            with pytest.raises(asyncio.TimeoutError):
                async with http.get(base + "/api/system/info", timeout=aiohttp.ClientTimeout(total=0.3)) as r:
                    pass
            # restart: unreachable for spec.reboot_s (8 s simulated = 0.8 s wall), then back with uptime reset
            async with http.post(base + "/api/system/restart") as r:
                assert r.status == 200
            await asyncio.sleep(0.4)
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(base + "/api/system/info") as r:
                    pass
            t0 = time.monotonic()
            while True:
                try:
                    async with http.get(base + "/api/system/info") as r:
                        info = await r.json()
                    break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() - t0 < 5.0
                    await asyncio.sleep(0.05)
            assert info["uptimeSeconds"] < 5
    finally:
        await dev.stop()


async def test_lbbox_goldshell_http_and_4028() -> None:
    dev = SimLBBox(serial="LB-HTTP", seed=3, clock=Clock(10.0))
    await dev.start()
    base = f"http://127.0.0.1:{dev.ports['http']}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/mcb/status") as r:
                assert r.status == 401
            async with http.get(base + "/user/login?username=admin&password=wrong&cipher=false") as r:
                assert r.status == 401
            async with http.get(base + "/user/login?username=admin&password=123456789&cipher=false") as r:
                token = (await r.json())["JWT Token"]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.get(base + "/mcb/status", headers=auth) as r:
                assert (await r.json())["model"] == "LB-Box"
            async with http.put(base + "/mcb/setting", headers=auth, json={"select": 1}) as r:
                assert (await r.json())["select"] == 1
            assert dev.physics.freq_hz[0] == 400e6
            async with http.put(base + "/mcb/setting", headers=auth, json={"select": 9}) as r:
                assert r.status == 400
            await asyncio.sleep(0.3)
            async with http.get(base + "/mcb/cgminer?cgminercmd=devs", headers=auth) as r:
                devs = (await r.json())["data"]
            assert devs[0]["tstemp-2"] > 20 and devs[0]["MHS 20s"] > 0
        reply = decode_reply(await rpc(dev.ports["rpc"], b'{"command":"devs"}'), "devs")
        assert reply["DEVS"][0]["chips-nr"] == 8
    finally:
        await dev.stop()


async def test_stratum_disconnect_fault_reconnects_and_mining_continues() -> None:
    clock = Clock(10.0)
    server = StratumServer(ServerConfig(difficulty=2**-18, min_difficulty=1e-12, job_interval_s=0), clock=clock)
    await server.start()
    seen: list[str] = []
    server.add_connection_listener(lambda conn, what: seen.append(what))
    dev = SimLV06(serial="LV06-DROP", seed=4, clock=clock, stratum=("127.0.0.1", server.port))
    try:
        await dev.start()
        await asyncio.sleep(0.6)
        before = dev.firmware.counters.accepted
        dev.inject(Fault.tcp_disconnect())
        await asyncio.sleep(1.2)
        assert seen.count("authorized") >= 2 and "closed" in seen
        assert dev.firmware.counters.accepted > before
    finally:
        await dev.stop()
        await server.stop()


async def test_ambient_step_heats_the_device_and_bad_inputs_are_refused() -> None:
    fixed = free_port()
    dev = SimLV06(serial="LV06-AMB", seed=5, clock=Clock(50.0), ports={"http": fixed})
    sub = dev.fanout.subscribe(kinds={"telemetry"})
    await dev.start()
    assert dev.ports == {"http": fixed}
    try:
        t0 = float(dev.physics.t_die[0])
        dev.inject(Fault.ambient(45.0))
        await asyncio.sleep(1.0)  # 50 s simulated
        assert float(dev.physics.t_die[0]) > t0 + 3
        tel = sub.get_nowait_all()
        assert tel and {"hashrate_hs", "temp_chip_c", "temp_board_c", "power_w", "fan_rpm", "frequency_hz",
                        "core_voltage_v", "hw_errors", "ambient_c"} <= set(tel[-1].data)
        assert tel[-1].data["ambient_c"] == 45.0 and tel[-1].data["frequency_hz"] == 485e6
        with pytest.raises(ValueError, match="ambient"):
            dev.inject(Fault.ambient(500.0))
        with pytest.raises(ValueError, match="count"):
            Fault.http_500(count=0)
    finally:
        await dev.stop()
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        SimS9(serial="x", host="0.0.0.0")


async def test_overheat_stops_hashing_and_recovery_resumes_it() -> None:
    dev = SimLV06(serial="LV06-HOT", seed=6, clock=Clock(200.0))
    sub = dev.fanout.subscribe()
    await dev.start()
    try:
        dev.inject(Fault.ambient(70.0))
        for _ in range(100):
            if dev.state == "overheat":
                break
            await asyncio.sleep(0.05)
        assert dev.state == "overheat" and dev.physics.hashrate_hs == 0.0
        assert dev.physics.fan_percent == 100.0
        dev.inject(Fault.ambient(20.0))
        for _ in range(200):
            if dev.state == "running":
                break
            await asyncio.sleep(0.05)
        assert dev.state == "running" and dev.physics.hashrate_hs > 1e11
    finally:
        await dev.stop()
    reasons = [e.data.get("reason") for e in sub.get_nowait_all() if str(e.kind) == "fault"]
    assert "overheat" in reasons
