"""What firmware reads back from the simulated chips over the pty: hash/error counters that follow the modelled
hashrate and error rate (read as ESP-Miner's hashrate_monitor_task and bmminer do), the hash counting number
(reg 0x10), nonces spread over every core, cgminer-gekko's BM1387 bring-up, and the UART's limits (transmit
FIFO, garbling when the host leaves the chip's speed)."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from chain_host import Host, job_header, open_host
from scipy import stats

from asicrc.drivers.clock import Clock
from asicrc.drivers.sim import Fault
from asicrc.drivers.sim.serial_chain import SimBM1366Chain, SimBM1387Chain
from asicrc.native import codecs, difficulty_batch, registers
from asicrc.native.codecs import Kind

DIFF1 = 2.0**32
P_CRIT = 0.001  # a correct simulator fails a check 1 run in 1000


def bm1366_init(chips: int, mhz: float, difficulty: float) -> list[bytes]:
    """ESP-Miner's bring-up up to (not including) the baud switch."""
    return [s.frame for s in registers.bm1366_init_sequence(chips, mhz, difficulty)[:-1]]


async def read_counters(host: Host, reg: int, chips: int) -> list[tuple[float, int, int]]:
    """(arrival time, chip address, value) of one read-all of a counter register, as ESP-Miner reads it."""
    got = await host.read_registers(codecs.bm1366_read_reg(reg), chips)
    assert len(got) == chips and all(int(r["reg"]) == reg for _, r in got)
    return [(t, int(r["chip_addr"]), int(r["value"])) for t, r in got]


def poisson_ok(count: float, expected: float) -> bool:
    """Two-sided Poisson check at P_CRIT (normal approximation, counts here are in the hundreds+)."""
    return abs(count - expected) <= stats.norm.ppf(1 - P_CRIT / 2) * math.sqrt(expected)


async def test_bm1366_counters_follow_the_modelled_hashrate_and_error_rate() -> None:
    clock = Clock(speed=10.0)  # 10 simulated seconds per wall second: thousands of counts per window
    chain = SimBM1366Chain(serial="counters-66", seed=4, clock=clock, chips=2)
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1366Decoder(address_interval=128), clock) as host:
            half = registers.bm1366_pll_value(registers.bm1366_pll(242.5))
            await host.send(*bm1366_init(2, 485.0, 256), codecs.bm1366_write_reg(registers.BM1366_REG_PLL, half, 0x80),
                            codecs.bm1366_job(job_header(), 0x08))
            await asyncio.sleep(0.2)
            # ESP-Miner's hashrate_monitor_task: GH/s = delta(0x8C) x 2^32 / dt per chip, domains 0x88..0x8B
            first = {reg: await read_counters(host, reg, 2) for reg in (0x8C, 0x4C, 0x88, 0x89, 0x8A, 0x8B)}
            await asyncio.sleep(3.0)
            second = {reg: await read_counters(host, reg, 2) for reg in (0x8C, 0x4C, 0x88, 0x89, 0x8A, 0x8B)}
            modelled = chain.physics.chip_raw_hashrate_hs()  # f x 894 small cores per chip
            assert modelled[1] == pytest.approx(modelled[0] / 2, rel=0.01)
            for chip, addr in enumerate((0x00, 0x80)):
                (t0, a0, total0), (t1, a1, total1) = first[0x8C][chip], second[0x8C][chip]
                assert a0 == a1 == addr
                d_total = (total1 - total0) % 2**32
                expected = modelled[chip] * (t1 - t0) / DIFF1
                assert expected > 1000 and poisson_ok(d_total, expected), (chip, d_total, expected)
                # power: the counts tell the two clocks apart (a simulator ignoring the per-chip PLL fails here)
                other = modelled[1 - chip] * (t1 - t0) / DIFF1
                assert not poisson_ok(d_total, other)
                for r in (0x88, 0x89, 0x8A, 0x8B):  # each hash domain counts a quarter of the cores' results
                    (u0, _, v0), (u1, _, v1) = first[r][chip], second[r][chip]
                    assert poisson_ok((v1 - v0) % 2**32, modelled[chip] / 4 * (u1 - u0) / DIFF1), (chip, r)
                assert (second[0x4C][chip][2] - first[0x4C][chip][2]) % 2**32 <= 3  # healthy: error floor 2e-5
            assert (chain.counters.domain.sum(axis=1) % 2**32 == chain.counters.total).all()  # exactly
            # undervolt chip 0: its error counter follows the modelled error rate (ESP-Miner's errorPercentage)
            chain.physics.set_voltage(1.11, [0])
            before = {reg: await read_counters(host, reg, 2) for reg in (0x8C, 0x4C)}
            rate_before = float(chain.physics.error_rate()[0])
            await asyncio.sleep(3.0)
            rate_after = float(chain.physics.error_rate()[0])
            after = {reg: await read_counters(host, reg, 2) for reg in (0x8C, 0x4C)}
            n = (after[0x8C][0][2] - before[0x8C][0][2]) % 2**32
            bad = (after[0x4C][0][2] - before[0x4C][0][2]) % 2**32
            p = (rate_before + rate_after) / 2
            assert 0.05 < p < 0.6, p
            z = stats.norm.ppf(1 - P_CRIT / 2)
            assert abs(bad / n - p) < z * math.sqrt(p * (1 - p) / n) + abs(rate_after - rate_before), (bad, n, p)
            assert (after[0x4C][1][2] - before[0x4C][1][2]) % 2**32 <= 3  # chip 1 was left alone
            # a dead chip stops counting and answers no more
            chain.inject(Fault.chip_death(1))
            frozen = int(chain.counters.total[1])
            await asyncio.sleep(0.5)
            assert [a for _, a, _ in await read_counters(host, 0x8C, 1)] == [0x00]
            assert int(chain.counters.total[1]) == frozen
    finally:
        await chain.stop()


def gekko(prefix: str) -> bytes:
    """A cgminer-gekko BM1387 command as it writes it: the literal bytes, CRC5 over all but the last byte."""
    body = bytes.fromhex(prefix)
    return body + bytes([codecs.crc5(body)])


async def test_bm1387_gekko_bring_up_baud_pll_readback_and_hashrate_register() -> None:
    """cgminer-gekko's BM1387 sequence (driver-gekko.c): chain inactive x3, set-address at 0x100 / chips steps,
    MISC_CONTROL baud (bauddiv 1 = 1.5625 Mbaud) then the host follows to 1.5 Mbaud, the not_set_baud "gate
    block" write, PLL per chip, ticket mask; then PLL readback and bmminer's per-chip hashrate register."""
    clock = Clock(speed=10.0)
    chips = 2
    step = 0x100 // chips
    chain = SimBM1387Chain(serial="gekko-87", seed=6, clock=clock, chips=chips)
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1387Decoder(address_interval=step), clock) as host:
            await host.send(*[gekko("55050000")] * 3, *[gekko(f"410 5{a:02x}00".replace(" ", "")) for a in (0, step)])
            await host.send(gekko("5809001C00200100"))  # baud: divider 1
            await asyncio.sleep(0.05)
            assert chain.chip_baud == pytest.approx(1_562_500)
            host.set_baud(1_500_000)
            await host.send(gekko("5809001C40208180"))  # gate block, not_set_baud: the speed stays
            await host.send(*[gekko(f"4809{a:02x}0C00500241") for a in (0, step)])  # 250 MHz each
            await host.send(registers.bm1387_ticket_mask_frame(1))
            await asyncio.sleep(0.1)
            assert chain.chip_baud == pytest.approx(1_562_500) and chain.addresses == [0, step]
            assert chain.physics.freq_hz.tolist() == pytest.approx([250e6, 250e6])
            # PLL readback per chip (gekko ping_freq: 44 05 addr 0C): rx0 0x80, f = 25 x rx1 / (rx2 x rx3 nibbles)
            for a in (0, step):
                ((_, rec),) = await host.read_registers(gekko(f"4405{a:02x}0C"), 1)
                rx = int(rec["value"]).to_bytes(4, "big")
                assert rx[0] == 0x80 and 25.0 * rx[1] / (rx[2] * (rx[3] >> 4) * (rx[3] & 0x0F)) == 250.0
            # 4-midstate work as gekko sends it: replies carry job id + midstate index, chip = rx0 / (0x100 / chips)
            header = job_header()
            v0 = int.from_bytes(header[:4], "little")
            versions = [v0 | (i << 13) for i in range(4)]
            sent_before = chain.chip_nonces_sent.copy()
            await host.send(codecs.bm1387_work(header, 0x10, versions))
            await asyncio.sleep(2.0)  # 20 simulated s: past the 16 s window of the hashrate register
            regs = await host.read_registers(gekko("54050008"), chips)  # bmminer's HASHRATE read, all chips
            await host.send(registers.bm1387_ticket_mask_frame(1 << 20))
            await asyncio.sleep(0.2)
            got = [r for r in host.records if r["kind"] == Kind.NONCE]
            sent = chain.chip_nonces_sent - sent_before
            wrong = int(chain.chip_hw_errors_sent.sum())
    finally:
        await chain.stop()
    assert len(got) >= 100
    failed = 0
    for r in got:
        idx = int(r["job_id"]) - 0x10
        assert 0 <= idx < 4
        rolled = versions[idx].to_bytes(4, "little") + header[4:]
        failed += int(difficulty_batch(rolled, np.array([r["nonce"]], dtype=np.uint32))[0] < chain.difficulty_scale)
    assert failed == wrong  # every nonce verifies but the chips' hardware errors (~0.3 % at these clocks)
    wire_rx0 = [int(r["nonce"]) & 0xFF for r in got]  # the first reply byte
    assert np.bincount([b // step for b in wire_rx0], minlength=chips).tolist() == sent.tolist()
    assert len({int(r["job_id"]) for r in got}) == 4  # every midstate hashed
    # bmminer's "RT hashrate" per chip: 2^24 H/s units, the modelled rate within the window's Poisson noise
    modelled = chain.physics.chip_hashrate_hs()
    window_counts = modelled * 16.0 / DIFF1
    for (_, rec), rate, n in zip(regs, modelled, window_counts, strict=True):
        est = int(rec["value"]) * 2.0**24
        assert abs(est - rate) <= stats.norm.ppf(1 - P_CRIT / 2) * rate / math.sqrt(n), (est, rate)


async def test_bm1387_bmminer_vil_bring_up_and_hardware_errors_reach_the_host() -> None:
    """bmminer's S9 sequence (driver-btm-c5.c, VIL mode; the same bytes as Braiins' capture in its S9 FPGA
    testbench): read chip ids, chain inactive x3, 64 set-address commands at CHIP_ADDR_INTERVAL 4 (more than there
    are chips), PLL 650 MHz per chip, MISC_CONTROL 0x40209A80, ticket mask 0x3F (diff - 1 as it is, not
    bit-reversed), hash counting 0, then set_baud (bauddiv 1) and the host follows 50 ms later. Nonces are read
    as bmminer/braiins read them (chip = (n >> 2) & 0x3F, core = (n >> 24) & 0x7F); an undervolted chip returns
    wrong nonces at its modelled error rate, which the host counts as hardware errors (a BM1387 has no error
    counter register), healthy chips none."""
    clock = Clock(speed=5.0)
    chips = 3
    chain = SimBM1387Chain(serial="bmminer-87", seed=8, clock=clock, chips=chips, difficulty_scale=2.0**-29)
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1387Decoder(address_interval=4), clock) as host:
            ids = await host.read_registers(gekko("54050000"), chips)
            assert [int(r["value"]) for _, r in ids] == [0x13879000] * chips  # not addressed yet
            await host.send(*[gekko("55050000")] * 3, *[gekko(f"4105{a:02x}00") for a in range(0, 256, 4)])
            await host.send(*[gekko(f"4809{4 * i:02x}0c00680221") for i in range(chips)])
            await host.send(gekko("5809001c40209a80"), gekko("580900180000003f"), gekko("5809001400000000"))
            await asyncio.sleep(0.1)
            assert chain.addresses == [0, 4, 8] and chain.ticket_difficulty == 64
            assert chain.chip_baud == pytest.approx(25e6 / 216)  # 0x40209A80 carries the divider in force (26)
            assert chain.physics.freq_hz.tolist() == pytest.approx([650e6] * chips)
            await host.send(gekko("5809001c00200100"))  # set_baud(1): inv_clock, divider 1, not_set_baud clear
            await asyncio.sleep(0.05)  # bmminer: cgsleep_us(50000), then the FPGA's divider follows
            host.set_baud(1_562_500)
            ids = await host.read_registers(gekko("54050000"), chips)
            assert [int(r["value"]) for _, r in ids] == [0x13879000, 0x13879004, 0x13879008]
            chip1 = chain.physics.v_min_v()[1] + chain.spec.err_v_scale_v * 1.4  # logistic term ~0.2
            chain.physics.set_voltage(float(chip1), [1])
            p_before = float(chain.physics.error_rate()[1])
            header = job_header()
            v0 = int.from_bytes(header[:4], "little")
            versions = [v0 | (i << 13) for i in range(4)]  # AsicBoost: 4 midstates, as bmminer-use-vil sends
            await host.send(codecs.bm1387_work(header, 0x20, versions))
            await asyncio.sleep(3.0)
            p_after = float(chain.physics.error_rate()[1])
            p_healthy = chain.physics.error_rate()[[0, 2]]
            await host.send(gekko("58090018ffffffff"))  # every mask bit set: the stream stops
            await asyncio.sleep(0.2)
            got = [r for r in host.records if r["kind"] == Kind.NONCE]
            wrong_sent = chain.chip_hw_errors_sent.copy()
            sent = chain.chip_nonces_sent.copy()
    finally:
        await chain.stop()
    n = np.array([int(r["nonce"]) for r in got], dtype=np.uint32)
    chip = (n >> 2) & 0x3F
    assert np.bincount(chip, minlength=chips).tolist() == sent.tolist()  # every reply names its chip
    assert ((n >> 24) & 0x7F).max() < 114
    ok = np.zeros(len(got), dtype=bool)
    for idx in range(4):
        sel = np.array([int(r["job_id"]) - 0x20 == idx for r in got])
        rolled = versions[idx].to_bytes(4, "little") + header[4:]
        ok[sel] = difficulty_batch(rolled, n[sel]) >= 64 * chain.difficulty_scale
    bad = np.bincount(chip[~ok], minlength=chips)
    assert bad.tolist() == wrong_sent.tolist()  # what the host counts is what the chips got wrong
    for i, p_i in zip((0, 2), p_healthy, strict=True):  # the healthy chips: only their (small) modelled errors
        assert bad[i] <= stats.binom.ppf(1 - P_CRIT, int((chip == i).sum()), max(float(p_i), 0.01)), (i, bad, p_i)
    total1 = int((chip == 1).sum())
    p = (p_before + p_after) / 2
    assert total1 >= 90 and 0.1 < p < 0.5, (total1, p)  # ~145 expected
    z = stats.norm.ppf(1 - P_CRIT / 2)
    assert abs(bad[1] / total1 - p) < z * math.sqrt(p * (1 - p) / total1) + abs(p_after - p_before), (bad, total1, p)


@pytest.mark.parametrize("model", ["bm1366", "bm1387"])
async def test_nonces_spread_over_every_core(model: str) -> None:
    """A chip's cores hash in parallel: over a job's nonces the core ids cover 0 .. cores - 1 evenly, never
    more (BM1366 112 cores in nonce_h bits 25..31, BM1387 114 cores in rx3 & 0x7F)."""
    clock = Clock(speed=10.0)
    if model == "bm1366":
        cores, chain = 112, SimBM1366Chain(serial="cores-66", seed=2, clock=clock, chips=1)
        decoder: codecs._StreamDecoder = codecs.BM1366Decoder()
        init = bm1366_init(1, 485.0, 1)
    else:
        cores = 114
        chain = SimBM1387Chain(serial="cores-87", seed=2, clock=clock, chips=1)
        decoder = codecs.BM1387Decoder(address_interval=256)
        init = [*registers.bm1387_address_sequence(1, 256), registers.bm1387_pll_frame(650.0),
                registers.bm1387_ticket_mask_frame(1)]
    header = job_header()
    await chain.start()
    try:
        async with open_host(chain.port_path, decoder, clock) as host:
            await host.send(*init)
            job = codecs.bm1366_job(header, 0x08) if model == "bm1366" else codecs.bm1387_work(header, 0x11)
            got = [r for r in await host.collect_after(job, 2.0) if r["kind"] == Kind.NONCE]
    finally:
        await chain.stop()
    core = np.array([int(r["core"]) for r in got])
    assert len(core) >= 120 and core.max() < cores  # (fewer when the machine is loaded: the search falls behind)
    groups = np.bincount(core * 6 // cores, minlength=6)  # six groups of cores: expected counts >= 20 each
    assert stats.chisquare(groups).pvalue > P_CRIT, groups.tolist()
    # distinct cores close to what uniform draws give (the old single-cursor walk gave one core per job)
    expected_distinct = cores * (1 - (1 - 1 / cores) ** len(core))
    assert len(set(core.tolist())) >= 0.8 * expected_distinct


async def test_hash_counting_number_sets_nonces_per_rolled_version() -> None:
    """Reg 0x10 (ESP-Miner BM1366_set_nonce_space): at 100 % a core scans its whole nonce slice before the version
    rolls on, so early in a job only the 8 small-core versions appear; a tiny value rolls the version every few
    dozen nonces."""
    clock = Clock(speed=10.0)
    header = job_header()
    rolled = {}
    for label, hcn in (("full", None), ("tiny", 1)):
        chain = SimBM1366Chain(serial=f"hcn-{label}", seed=2, clock=clock, chips=1)
        await chain.start()
        try:
            async with open_host(chain.port_path, codecs.BM1366Decoder(), clock) as host:
                await host.send(*bm1366_init(1, 485.0, 1))
                if hcn is not None:
                    await host.send(codecs.bm1366_write_reg(registers.BM1366_REG_HASH_COUNTING, hcn))
                got = [r for r in await host.collect_after(codecs.bm1366_job(header, 0x10), 1.5)
                       if r["kind"] == Kind.NONCE]
        finally:
            await chain.stop()
        assert len(got) >= 100
        vb = np.array([int(r["version_bits"]) for r in got])
        assert ((vb >> 13) & 7).tolist() == [int(r["small_core"]) for r in got]  # small core = low rolled bits
        rolled[label] = len(set((vb >> 16).tolist()))
    assert rolled["full"] == 1  # the versions above the small-core bits have not rolled yet
    assert rolled["tiny"] >= 5, rolled


async def test_transmit_fifo_bounds_what_a_slow_line_carries() -> None:
    """At 115200 baud a chip can send ~1050 BM1366 nonce frames a second; offered ~2500/s the FIFO overflows and
    frames are dropped (counted); after the switch to 1 Mbaud the same stream fits (control)."""
    chain = SimBM1366Chain(serial="fifo", seed=1, clock=Clock(1.0), chips=1, difficulty_scale=2.0**-29)
    header = job_header()
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1366Decoder()) as host:
            await host.send(*bm1366_init(1, 485.0, 1))
            slow = [r for r in await host.collect_after(codecs.bm1366_job(header, 0x08), 1.0) if r["kind"] == Kind.NONCE]
            dropped_slow = chain.uart.stats.tx_dropped
            await host.send(registers.bm1366_baud_frame(1_000_000))
            await asyncio.sleep(0.3)
            host.set_baud(1_000_000)
            await asyncio.sleep(0.3)
            before = chain.uart.stats.tx_dropped
            fast = [r for r in await host.collect(1.0) if r["kind"] == Kind.NONCE]
            dropped_fast = chain.uart.stats.tx_dropped - before
    finally:
        await chain.stop()
    capacity = 115741 / 10 / 11  # frames per second on the wire
    assert len(slow) <= capacity * 1.2 and dropped_slow > 500, (len(slow), dropped_slow)
    assert len(fast) > 1.5 * capacity and dropped_fast == 0, (len(fast), dropped_fast)


async def test_frames_sent_while_the_host_listens_at_another_speed_are_garbled() -> None:
    chain = SimBM1366Chain(serial="tx-garble", seed=1, clock=Clock(1.0), chips=1)
    header = job_header()
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1366Decoder()) as host:
            await host.send(*bm1366_init(1, 485.0, 1), registers.bm1366_baud_frame(1_000_000))
            await asyncio.sleep(0.1)
            host.set_baud(1_000_000)
            ok = [r for r in await host.collect_after(codecs.bm1366_job(header, 0x08), 0.6) if r["kind"] == Kind.NONCE]
            host.set_baud(115200)  # the host leaves; the chip keeps hashing and sending at 1 Mbaud
            await asyncio.sleep(0.1)
            lost = [r for r in await host.collect(0.6) if r["kind"] == Kind.NONCE]
    finally:
        await chain.stop()
    assert len(ok) >= 20 and lost == [] and chain.uart.stats.tx_garbled >= 11 * 20
