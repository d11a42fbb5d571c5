"""The BM1366/BM1387 chain simulators over a real pty, driven with the project's own C codecs."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from chain_host import job_header, open_host

from asicrc.drivers.clock import Clock
from asicrc.drivers.events import FanOut
from asicrc.drivers.events import Kind as EventKind
from asicrc.drivers.sim import Fault
from asicrc.drivers.sim.serial_chain import SimBM1366Chain, SimBM1387Chain, ticket_difficulty
from asicrc.native import codecs, difficulty_batch, registers
from asicrc.native.codecs import Kind


async def test_bm1366_chain_init_pll_ticket_baud_jobs_and_faults() -> None:
    chain = SimBM1366Chain(serial="bitaxe-1", seed=1, clock=Clock(1.0), chips=1)
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1366Decoder()) as host:
            steps = registers.bm1366_init_sequence(chip_count=1, freq_mhz=485.0, difficulty=1)
            for step in steps[:-1]:  # all but the baud switch
                await host.send(step.frame)
            await asyncio.sleep(0.2)
            regs = [r for r in host.records if r["kind"] == Kind.REGISTER]
            assert len(regs) == 1 and regs[0]["value"] == 0x13660000  # chip-id reply, counted as one chip
            assert chain.physics.freq_hz[0] == pytest.approx(485e6)  # the PLL write set the clock
            assert chain.ticket_difficulty == 1.0
            assert chain.version_mask == 0x1FFFE000
            # a frame with a bad CRC is dropped silently
            bad = bytearray(codecs.bm1366_read_reg(0))
            bad[-1] ^= 0x01
            await host.send(bytes(bad))
            assert [r for r in await host.collect(0.2) if r["kind"] == Kind.REGISTER] == []
            # baud switch: until the host follows, nothing gets through; then everything does
            await host.send(steps[-1].frame)
            await asyncio.sleep(0.1)
            await host.send(codecs.bm1366_read_reg(0))
            assert [r for r in await host.collect(0.2) if r["kind"] == Kind.REGISTER] == []
            host.set_baud(1_000_000)
            await host.send(codecs.bm1366_read_reg(0))
            assert [int(r["value"]) for r in await host.collect(0.2) if r["kind"] == Kind.REGISTER] == [0x13660000]
            # (before any job: no nonce frames to absorb the faults) garbage and dropped bytes on the line: the decoder resynchronizes, later replies are intact
            chain.inject(Fault.serial_garbage(nbytes=13))
            chain.inject(Fault.serial_drop(nbytes=3))
            await host.send(codecs.bm1366_read_reg(0))
            assert [r for r in await host.collect(0.3) if r["kind"] == Kind.REGISTER] == []  # the damaged reply
            await host.send(codecs.bm1366_read_reg(0))
            regs = [r for r in await host.collect(0.3) if r["kind"] == Kind.REGISTER]
            assert [int(r["value"]) for r in regs] == [0x13660000]
            assert host.decoder.stats.bytes_dropped >= 13
            # a job: the chip returns real nonces that verify against the header it was sent
            header = job_header()
            await host.send(codecs.bm1366_job(header, 8))
            got = [r for r in await host.collect(1.2) if r["kind"] == Kind.NONCE]
            assert len(got) >= 20
            for r in got:
                assert r["job_id"] == 8
                version = struct.unpack_from("<I", header)[0] | int(r["version_bits"])
                rolled = struct.pack("<I", version) + header[4:]
                diff = difficulty_batch(rolled, np.array([r["nonce"]], dtype=np.uint32))[0]
                assert diff >= chain.difficulty_scale * chain.ticket_difficulty
            assert len({int(r["version_bits"]) for r in got}) > 1  # the chip rolls version bits
            # ticket mask thins the stream: 8x the difficulty, far fewer nonces
            await host.send(registers.bm1366_ticket_mask_frame(8))
            await asyncio.sleep(0.1)
            assert chain.ticket_difficulty == 8.0
            thin = [r for r in await host.collect(1.2) if r["kind"] == Kind.NONCE]
            assert len(thin) < len(got) / 2.5
    finally:
        await chain.stop()


async def test_bm1387_chain_enumeration_pll_midstate_work_and_baud() -> None:
    chain = SimBM1387Chain(serial="s9-board-1", seed=2, clock=Clock(1.0), chips=2, search_rate_hs=8000.0)
    await chain.start()
    try:
        async with open_host(chain.port_path, codecs.BM1387Decoder()) as host:
            await host.send(*registers.bm1387_address_sequence(2, interval=4))
            await host.send(registers.bm1387_enumerate_frame())
            regs = [r for r in await host.collect(0.2) if r["kind"] == Kind.REGISTER]
            assert [int(r["value"]) for r in regs] == [0x13879000, 0x13879004]  # id + address, in chain order
            await host.send(registers.bm1387_pll_frame(650.0))
            await host.send(registers.bm1387_pll_frame(500.0, chip_addr=4))
            await host.send(registers.bm1387_ticket_mask_frame(1))
            await asyncio.sleep(0.1)
            assert chain.physics.freq_hz.tolist() == pytest.approx([650e6, 500e6])
            # work with two midstates (AsicBoost): replies carry job id + midstate index
            header = job_header()
            v0 = struct.unpack_from("<I", header)[0]
            versions = [v0, v0 | 0x2000]
            await host.send(codecs.bm1387_work(header, 0x10, versions))
            got = [r for r in await host.collect(1.5) if r["kind"] == Kind.NONCE]
            assert len(got) >= 5
            failed = 0
            for r in got:
                idx = int(r["job_id"]) - 0x10
                assert idx in (0, 1)
                rolled = struct.pack("<I", versions[idx]) + header[4:]
                failed += int(difficulty_batch(rolled, np.array([r["nonce"]], dtype=np.uint32))[0] < 2.0**-24)
            assert failed == int(chain.chip_hw_errors_sent.sum())  # only the chips' hardware errors fail
            # baud change through MISC_CONTROL: ~1.04 Mbaud, within UART tolerance of a 1 Mbaud host. The host
            # quiesces the chips first (drivers switch during init, before work): nonce frames sent in the window
            # between the two switches arrive garbled, and with a 5-bit CRC garbage can swallow the next reply
            await host.send(registers.bm1387_ticket_mask_frame(1 << 20))
            await asyncio.sleep(0.3)
            await host.send(registers.bm1387_baud_frame(1_041_667))
            await asyncio.sleep(0.1)
            host.set_baud(1_000_000)
            await host.send(registers.bm1387_enumerate_frame())
            regs = [r for r in await host.collect(0.3) if r["kind"] == Kind.REGISTER]
            assert len(regs) == 2
    finally:
        await chain.stop()


async def test_bm1366_misc_control_0x18_is_not_its_baud_register() -> None:
    """ESP-Miner's init writes 0x18 = 0xFF0FC100 (all) and 0xF000C100 (each chip) and keeps talking at 115200: the
    chip's speed does not follow the BM1397 layout of 0x18; set_default_baud's 0x00007A31 does not bring a chip at
    1 Mbaud back either (the reset line does); reg 0x28 (ESP-Miner's 0x11300200) does switch it."""
    chain = SimBM1366Chain(serial="misc-18", seed=1, clock=Clock(1.0), chips=1)
    await chain.start()
    try:
        def feed(frame: bytes) -> None:
            for rec in codecs.BM1366HostDecoder().feed(frame):
                chain._handle(rec, 0.0)

        steps = registers.bm1366_init_sequence(chip_count=1, freq_mhz=485.0, difficulty=256)
        writes_18 = [s for s in steps if codecs.BM1366HostDecoder().feed(s.frame)[0]["reg"] == 0x18]
        assert len(writes_18) >= 2  # the broadcast and the per-chip write
        for step in steps[:-1]:
            feed(step.frame)
        assert chain.chip_baud == pytest.approx(25e6 / 216) and chain.registers[0][0x18] == 0xF000C100
        feed(steps[-1].frame)  # reg 0x28 <- 0x11300200
        assert chain.chip_baud == pytest.approx(25e6 / 24)
        feed(codecs.bm1366_write_reg(0x18, 0x00007A31))  # BM1366_set_default_baud
        assert chain.chip_baud == pytest.approx(25e6 / 24) and chain.registers[0][0x18] == 0x00007A31
        chain.reset()
        assert chain.chip_baud == pytest.approx(25e6 / 216)
    finally:
        await chain.stop()


async def test_a_crashed_hashing_loop_is_published_as_a_fault() -> None:
    """A bug in the hashing loop must not leave a chain that silently never hashes again; a normal stop publishes
    no such fault (control)."""
    fanout = FanOut()
    sub = fanout.subscribe(kinds={"fault"})
    healthy = SimBM1366Chain(serial="loop-ok", seed=1, clock=Clock(1.0), fanout=fanout)
    await healthy.start()
    await asyncio.sleep(0.2)
    await healthy.stop()
    assert sub.get_nowait_all() == []
    chain = SimBM1366Chain(serial="loop-crash", seed=1, clock=Clock(1.0), fanout=fanout)

    def broken(*_: object) -> None:
        raise RuntimeError("planted")

    chain._advance_counters = broken  # type: ignore[method-assign]
    await chain.start()
    try:
        ev = await asyncio.wait_for(sub.get(), 5.0)
    finally:
        await chain.stop()
    assert ev.kind == EventKind.FAULT and ev.data["reason"] == "simulator-error" and "planted" in ev.data["detail"]


def test_ticket_mask_inverse_and_argument_checks() -> None:
    for d in (1, 2, 64, 256, 1024):
        assert ticket_difficulty(registers.ticket_mask(d)) == d
    # bmminer and early braiins write diff - 1 without the per-byte bit reversal (S9: 0x3F for 64): the same
    # six mask bits, so the same difficulty; a non-power-of-two value enforces 2^(bits set)
    assert ticket_difficulty(0x0000003F) == ticket_difficulty(0x000000FC) == 64
    assert ticket_difficulty(99) == 16 and ticket_difficulty(0xFFFFFFFF) == 2.0**32
    with pytest.raises(ValueError, match="chips"):
        SimBM1366Chain(chips=0)
    with pytest.raises(ValueError, match="serial chain"):
        SimBM1366Chain().inject(Fault.http_500())


def decoded_counts(chip: np.ndarray, sel: np.ndarray, chips: int) -> list[int]:
    return [int(v) for v in np.bincount(chip[sel], minlength=chips)]


# chi-square critical values at p = 0.001 by degrees of freedom: a correct simulator fails 1 run in 1000
CHI2_CRIT_001 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 7: 24.32}


def pll_frame(model: str, mhz: float, addr: int) -> bytes:
    if model == "bm1387":
        return registers.bm1387_pll_frame(mhz, chip_addr=addr)
    return codecs.bm1366_write_reg(registers.BM1366_REG_PLL, registers.bm1366_pll_value(registers.bm1366_pll(mhz)),
                                   addr)


@pytest.mark.parametrize(("model", "freqs_mhz", "seconds"), [
    ("bm1387", [650.0, 500.0, 300.0, 150.0], 4.0),
    ("bm1366", [485.0, 400.0, 300.0, 200.0], 4.0),  # ~2x the counts: the unequal-rates check has power >> 99 %
])
async def test_chips_hash_their_own_nonce_ranges_in_parallel(model: str, freqs_mhz: list[float],
                                                             seconds: float) -> None:
    chips = len(freqs_mhz)
    interval = registers.address_interval(chips)  # what the project's UART driver uses
    if model == "bm1387":
        chain: SimBM1366Chain | SimBM1387Chain = SimBM1387Chain(serial="par-87", seed=5, clock=Clock(1.0), chips=chips,
                                                                search_rate_hs=10_000.0)
        decoder: codecs._StreamDecoder = codecs.BM1387Decoder(address_interval=interval)
        init = registers.bm1387_address_sequence(chips, interval)
        ticket = registers.bm1387_ticket_mask_frame
    else:
        chain = SimBM1366Chain(serial="par-66", seed=5, clock=Clock(1.0), chips=chips)
        decoder = codecs.BM1366Decoder(address_interval=interval)
        init = registers.bm1366_address_sequence(chips)
        ticket = registers.bm1366_ticket_mask_frame
    await chain.start()
    try:
        async with open_host(chain.port_path, decoder) as host:
            await host.send(*init, ticket(1))
            for i, mhz in enumerate(freqs_mhz):
                await host.send(pll_frame(model, mhz, i * interval))
            await asyncio.sleep(0.2)
            assert chain.physics.freq_hz.tolist() == pytest.approx([f * 1e6 for f in freqs_mhz], rel=0.02)
            header = job_header()
            job = codecs.bm1387_work(header, 0x21) if model == "bm1387" else codecs.bm1366_job(header, 0x28)
            sent_before = chain.chip_nonces_sent.copy()
            await host.send(job)
            await asyncio.sleep(seconds)
            await host.send(ticket(1 << 20))  # stop the stream so both sides can be counted exactly
            await asyncio.sleep(0.3)
            got = [r for r in host.records if r["kind"] == Kind.NONCE]
            sent = chain.chip_nonces_sent - sent_before
            wrong = chain.chip_hw_errors_sent.copy()
    finally:
        await chain.stop()
    nonces = np.array([int(r["nonce"]) for r in got], dtype=np.uint32)
    ok = difficulty_batch(header, nonces) >= chain.difficulty_scale
    by_chip = np.array([int(r["chip"]) for r in got])
    assert decoded_counts(by_chip, ~ok, chips) == wrong.tolist()  # every nonce verifies but hardware errors
    assert np.bincount(by_chip, minlength=chips).tolist() == sent.tolist()  # attribution: the chip that found it
    decoded = np.bincount(by_chip[ok], minlength=chips)  # good results: the modelled effective rates
    # per-chip counts follow the per-chip modelled rates (clock x (1 - hardware errors))
    rates = chain.physics.chip_hashrate_hs()
    expected = decoded.sum() * rates / rates.sum()
    chi2 = float(((decoded - expected) ** 2 / expected).sum())
    assert decoded.sum() >= 300 and chi2 < CHI2_CRIT_001[chips - 1], (decoded.tolist(), expected.round(1).tolist())
    # the same counts would be wildly off if the chips shared one rate (the test can tell the difference)
    flat = np.full(chips, decoded.sum() / chips)
    assert float(((decoded - flat) ** 2 / flat).sum()) > CHI2_CRIT_001[chips - 1]
    # parallel, not one chip after another: every chip shows up early (slowest chip's share is >= 9 %)
    assert set(int(r["chip"]) for r in got[:120]) == set(range(chips))
