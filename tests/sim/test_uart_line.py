"""The simulated chains' UART against a host with real firmware timing, in its own process (tests/sim/
firmware_host.py): ESP-Miner's baud switch (write the frame, tcdrain, switch at once, next write within 1 ms)
works in every trial; hosts whose speed really differs from the chip's get nothing (controls); the B0 reset line
returns the chain to power-on state at 115200 with its addresses cleared."""

from __future__ import annotations

import asyncio
import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chain_host import job_header

from asicrc.drivers.clock import Clock
from asicrc.drivers.sim.serial_chain import SimBM1366Chain
from asicrc.native import codecs, difficulty_batch, registers
from asicrc.native.codecs import Kind

HOST = Path(__file__).with_name("firmware_host.py")
CHIPS = 2
TRIALS = 6


def plan(modes: list[str], listen_s: float, header: bytes) -> dict[str, Any]:
    """ESP-Miner's BM1366 bring-up (asic_init.c order), as frames built with the project's codecs."""
    steps = registers.bm1366_init_sequence(chip_count=CHIPS, freq_mhz=485.0, difficulty=1)
    enum_at = next(i for i, s in enumerate(steps) if s.name == "read_chip_id")
    assert steps[-1].name == "baud"
    after = [codecs.bm1366_job(header, 0x08), codecs.bm1366_read_reg(0x8C), codecs.bm1366_read_reg(0x00)]
    return {"modes": modes, "chips": CHIPS, "fast_baud": 1_000_000, "listen_s": listen_s,
            "pre": [s.frame.hex() for s in steps[:enum_at]], "enum": steps[enum_at].frame.hex(),
            "init": [s.frame.hex() for s in steps[enum_at + 1:-1]], "check": codecs.bm1366_read_reg(0x00).hex(),
            "baud": steps[-1].frame.hex(), "after": [f.hex() for f in after]}


async def run_host(port: str, the_plan: dict[str, Any]) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(sys.executable, str(HOST), port, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(the_plan).encode()), 120)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


def decode(hexdata: str) -> np.ndarray:
    return codecs.BM1366Decoder(address_interval=256 // CHIPS).feed(bytes.fromhex(hexdata))


def registers_of(recs: np.ndarray, reg: int) -> list[tuple[int, int]]:
    return [(int(r["chip_addr"]), int(r["value"])) for r in recs if r["kind"] == Kind.REGISTER and r["reg"] == reg]


async def test_firmware_baud_switch_timing_works_every_trial_and_reset_clears_the_chain() -> None:
    chain = SimBM1366Chain(serial="fw-timing", seed=3, clock=Clock(1.0), chips=CHIPS)
    header = job_header()
    await chain.start()
    try:
        modes = ["firmware"] * TRIALS + ["drain_wait"]  # and once the way that cannot race the simulator's read
        results = await run_host(chain.port_path, plan(modes, listen_s=0.5, header=header))
        ambiguous = chain.uart.stats.ambiguous_reads
    finally:
        await chain.stop()
    assert len(results) == TRIALS + 1
    version = struct.unpack_from("<I", header)[0]
    nonces_per_trial = []
    for res in results:
        # switch + flush + next write within 1 ms of tcdrain returning (of the wait, for drain_wait)
        assert res["gap_ns"] < 1_000_000, res
        # after the reset (B0) every chip answers at 115200 with its address cleared ...
        assert registers_of(decode(res["enum"]), 0x00) == [(0, 0x13660000)] * CHIPS
        # ... takes the address it is given in chain order ...
        assert registers_of(decode(res["addressed"]), 0x00) == [(0x00, 0x13660000), (0x80, 0x13660000)]
        # ... and after the 1 Mbaud switch answers register reads and returns nonces
        after = decode(res["after"])
        assert [a for a, _ in registers_of(after, 0x8C)] == [0x00, 0x80]
        assert registers_of(after, 0x00) == [(0x00, 0x13660000), (0x80, 0x13660000)]
        nonces = after[after["kind"] == Kind.NONCE]
        versions = (np.uint32(version) | nonces["version_bits"]).astype(np.uint32)
        assert (difficulty_batch(header, nonces["nonce"], versions=versions) >= chain.difficulty_scale).all()
        assert set(nonces["chip"].tolist()) == {0, 1} and (nonces["core"] < 112).all()
        nonces_per_trial.append(len(nonces))
    # 2 chips x 20 000 H/s at ticket difficulty 2^-24: 2 x 78 nonces/s, ~0.5 s listened (less the job's start)
    assert min(nonces_per_trial) >= 25, nonces_per_trial
    assert chain.resets == TRIALS + 1  # one B0 hang-up per trial
    assert ambiguous >= 1  # the simulator did read bytes written around a switch (and judged them right)


@pytest.mark.parametrize("mode", ["never_switch", "wrong_speed", "switch_early"])
async def test_host_and_chip_at_different_speeds_get_nothing(mode: str) -> None:
    """Controls: the same bring-up with a host whose speed really differs from the chip's."""
    chain = SimBM1366Chain(serial=f"fw-{mode}", seed=3, clock=Clock(1.0), chips=CHIPS)
    await chain.start()
    try:
        (res,) = await run_host(chain.port_path, plan([mode], listen_s=0.4, header=job_header()))
        garbled = chain.bytes_garbled
        chip_baud = chain.chip_baud
    finally:
        await chain.stop()
    assert registers_of(decode(res["addressed"]), 0x00) == [(0x00, 0x13660000), (0x80, 0x13660000)]  # init worked
    after = decode(res["after"])
    assert len(after) == 0, after  # no register reply, no nonce decodes: the chip never got the job or the reads
    after_bytes = sum(len(bytes.fromhex(f)) for f in plan([], 0, b"\0" * 80)["after"])
    if mode == "switch_early":  # the baud frame itself arrived at 1 Mbaud: the chip never switched
        assert chip_baud == pytest.approx(25e6 / 216)
        assert garbled >= 11 + after_bytes
    else:  # the chip switched, the host did not follow (or followed to the wrong speed)
        assert chip_baud == pytest.approx(25e6 / 24)
        assert garbled >= after_bytes


async def test_api_reset_returns_power_on_state() -> None:
    chain = SimBM1366Chain(serial="reset-api", seed=1, clock=Clock(1.0), chips=2)
    await chain.start()
    try:
        steps = registers.bm1366_init_sequence(chip_count=2, freq_mhz=485.0, difficulty=64)
        for step in steps:
            chain._handle(codecs.BM1366HostDecoder().feed(step.frame)[0], 0.0)
        assert chain.addresses == [0x00, 0x80] and chain.chip_baud == pytest.approx(25e6 / 24)
        assert chain.ticket_difficulty == 64 and chain.version_mask == 0x1FFFE000
        assert chain.physics.freq_hz.tolist() == pytest.approx([485e6, 485e6])
        chain.reset()
        assert chain.addresses == [None, None] and chain.chip_baud == pytest.approx(25e6 / 216)
        assert chain.ticket_difficulty == 1 and chain.version_mask == 0 and chain.job is None
        assert chain.physics.freq_hz.tolist() == [50e6, 50e6] and chain.registers[0][0x28] == 0x01301A00
        assert chain.resets == 1
    finally:
        await chain.stop()
