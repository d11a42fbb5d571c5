"""BM1366 and BM1387 chains driven over a real pty against the chain simulators (drivers/sim/serial_chain.py):
init and enumeration, the 1 Mbaud switch (BM1366), jobs, verified nonces attributed to chip/core, PLL and ticket
mask changes that change the simulator, envelope refusals, garbage on the line, and the port going away."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from asicrc.drivers.clock import Clock
from asicrc.drivers.device import ActuationUnsupported, EnvelopeViolation
from asicrc.drivers.events import Event, FanOut, Kind, Source, Subscription
from asicrc.drivers.models import create_device
from asicrc.drivers.models.uart import UartChainDevice
from asicrc.drivers.serial.chain import CMD_GAP_S
from asicrc.drivers.serial.link import DRAIN_POLL_S, SerialLink
from asicrc.drivers.sim import Fault
from asicrc.drivers.sim.serial_chain import DEFAULT_DIFFICULTY_SCALE, SimBM1366Chain, SimBM1387Chain
from asicrc.native import registers

SPEED = 10.0


async def wait_for(sub: Subscription, pred: Callable[[Event], bool], wall_s: float = 20.0) -> Event:
    async def scan() -> Event:
        while True:
            ev = await sub.get()
            if pred(ev):
                return ev
    return await asyncio.wait_for(scan(), wall_s)


async def until(cond: Callable[[], bool], wall_s: float = 5.0) -> None:
    """The chip simulator reads the pty on its own schedule: wait until it has applied what was sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wall_s
    while not cond():
        assert loop.time() < deadline, "simulator never applied the change"
        await asyncio.sleep(0.01)


def is_(k: Kind, **data: object) -> Callable[[Event], bool]:
    return lambda ev: ev.kind == k and all(ev.data.get(key) == v for key, v in data.items())


async def make(model: str, sim: SimBM1366Chain | SimBM1387Chain, clock: Clock, **extra: object
               ) -> tuple[UartChainDevice, Subscription]:
    fanout = FanOut()
    sub = fanout.subscribe()
    spec = {"model": model, "device_id": f"{model}-t", "serial_port": sim.port_path, "poll_interval_s": 2.0,
            "job_interval_s": 2.0, "difficulty_scale": DEFAULT_DIFFICULTY_SCALE, **extra}
    dev = create_device(spec, fanout=fanout, clock=clock)
    assert isinstance(dev, UartChainDevice)
    await dev.start()
    return dev, sub


@pytest.mark.parametrize(("model", "sim_cls", "chips"), [("bm1366-uart", SimBM1366Chain, 1),
                                                          ("bm1387-uart", SimBM1387Chain, 2)])
async def test_chain_end_to_end(model: str, sim_cls: type, chips: int) -> None:
    clock = Clock(speed=SPEED)
    sim = sim_cls(serial=f"{model}-e2e", seed=2, clock=clock, chips=chips)
    await sim.start()
    dev, sub = await make(model, sim, clock, difficulty=1.0)
    try:
        online = await wait_for(sub, is_(Kind.STATE, state="online"))
        assert online.data["chips"] == chips and dev.identity.chips == chips
        if model == "bm1366-uart":
            # ESP-Miner's 0x11300200: divider 2 from 25 MHz = 1,041,667 baud, 4 % from the host's 1 Mbaud
            assert dev.chain is not None and dev.chain.baud == 1_000_000
            assert sim.chip_baud == pytest.approx(25e6 / 24) and sim.host_baud == 1_000_000
        start_mhz = dev.start_frequency_mhz
        await until(lambda: np.allclose(sim.physics.freq_hz, start_mhz * 1e6))
        nonce = await wait_for(sub, lambda e: e.kind == Kind.NONCE, wall_s=30)
        assert nonce.source == Source.SERIAL and nonce.device == f"{model}-t"
        assert nonce.data["achieved_diff"] >= DEFAULT_DIFFICULTY_SCALE and 0 <= nonce.data["chip"] < chips
        tel = (await wait_for(sub, lambda e: e.kind == Kind.TELEMETRY and e.data["nonces"] > 0, wall_s=30)).data
        assert tel["frequency_hz"] == start_mhz * 1e6 and tel["hashrate_hs"] > 0 and tel["chips"] == chips

        await dev.set_frequency(start_mhz + 25)  # stepped PLL writes reach every chip
        await until(lambda: np.allclose(sim.physics.freq_hz, (start_mhz + 25) * 1e6))
        with pytest.raises(EnvelopeViolation, match="max step"):
            await dev.set_frequency(start_mhz + 25 - 80)
        with pytest.raises(EnvelopeViolation, match="outside"):
            await dev.set_frequency(2000)
        assert np.allclose(sim.physics.freq_hz, (start_mhz + 25) * 1e6)  # nothing sent
        with pytest.raises(ActuationUnsupported):
            await dev.set_core_voltage(1200)
        await dev.set_difficulty(4)
        await until(lambda: sim.ticket_difficulty == 4)
        with pytest.raises(EnvelopeViolation, match=">= 1"):
            await dev.set_difficulty(0.5)
        assert sim.ticket_difficulty == 4

        sim.inject(Fault.serial_garbage(nbytes=40, count=3))
        await wait_for(sub, is_(Kind.FAULT, reason="serial-garbage"), wall_s=30)
        sim.inject(Fault.serial_drop(nbytes=3, count=3))  # bytes lost on the wire: frames cut short
        await wait_for(sub, is_(Kind.FAULT, reason="serial-garbage"), wall_s=30)
        for _ in range(5):  # nonces keep coming after the garbage, each attributed to a chip of the chain
            ev = await wait_for(sub, lambda e: e.kind == Kind.NONCE, wall_s=30)
            assert 0 <= ev.data["chip"] < chips
        tel = (await wait_for(sub, lambda e: e.kind == Kind.TELEMETRY, wall_s=30)).data
        assert sum(tel["chip_nonces"]) == tel["nonces"] and len(tel["chip_nonces"]) == chips
        # attribution is to the chip that found the nonce: never more than that chip sent (frames can be lost)
        sent = sim.chip_nonces_sent.copy()
        assert all(int(got) <= int(n) for got, n in zip(tel["chip_nonces"], sent, strict=True)), (tel, sent)
    finally:
        await dev.stop()
        await sim.stop()


async def test_port_lost_and_returning(tmp_path: Path) -> None:
    clock = Clock(speed=SPEED)
    link = tmp_path / "ttyASIC0"  # a stable name, like a udev symlink, re-pointed when the stick comes back
    sim = SimBM1366Chain(serial="lost", seed=1, clock=clock, chips=1)
    await sim.start()
    link.symlink_to(sim.port_path)
    fanout = FanOut()
    sub = fanout.subscribe(kinds={"state", "fault"})
    dev = create_device({"model": "bm1366-uart", "device_id": "stick", "serial_port": str(link),
                         "poll_interval_s": 2.0, "difficulty_scale": DEFAULT_DIFFICULTY_SCALE},
                        fanout=fanout, clock=clock)
    await dev.start()
    back = SimBM1366Chain(serial="lost", seed=1, clock=clock, chips=1)
    try:
        await wait_for(sub, is_(Kind.STATE, state="online"))
        await sim.stop()  # the USB stick is pulled
        fault = await wait_for(sub, is_(Kind.FAULT, reason="serial"), wall_s=30)
        assert fault.device == "stick"
        await wait_for(sub, is_(Kind.STATE, state="offline"), wall_s=30)
        await back.start()  # ... and plugged in again
        nonces = fanout.subscribe(kinds={"nonce"})
        link.unlink()
        link.symlink_to(back.port_path)
        await wait_for(sub, is_(Kind.STATE, state="online"), wall_s=30)
        await wait_for(nonces, lambda e: e.device == "stick", wall_s=30)  # re-initialized and hashing again
        assert back.jobs_received > 0 and back.chip_baud == pytest.approx(25e6 / 24)
    finally:
        await dev.stop()
        await back.stop()


async def test_no_chip_answers_is_a_clear_fault() -> None:
    import os
    import tty
    master, slave = os.openpty()  # a port with nothing behind it
    tty.setraw(master)
    tty.setraw(slave)
    try:
        fanout = FanOut()
        sub = fanout.subscribe()
        dev = create_device({"model": "bm1387-uart", "device_id": "empty", "serial_port": os.ttyname(slave)},
                            fanout=fanout, clock=Clock())
        await dev.start()  # never raises for an absent device
        fault = await wait_for(sub, is_(Kind.FAULT, reason="serial"))
        assert "no BM1387 answered the chip-id read" in fault.data["detail"]
        await dev.stop()
    finally:
        os.close(master)
        os.close(slave)


async def test_driver_switches_baud_at_once_after_the_drain(monkeypatch: pytest.MonkeyPatch) -> None:
    """asicrc's own driver does what ESP-Miner does (no settle delay): the 1 Mbaud frame is written, the port
    drained and the host switched, nothing written in between and no sleep longer than the command gap or the drain
    poll (the old workaround slept 50 ms here); the chain then works at 1 Mbaud. What the driver's task asked to
    sleep is checked, not the wall-clock gap, which a loaded machine stretches."""
    events: list[tuple[str, asyncio.Task[object] | None, object]] = []
    original_write, original_set_baud, original_sleep = SerialLink.write, SerialLink.set_baud, asyncio.sleep

    def write(self: SerialLink, data: bytes) -> None:
        events.append(("write", asyncio.current_task(), bytes(data)))
        original_write(self, data)

    async def set_baud(self: SerialLink, baud: int) -> None:
        await original_set_baud(self, baud)
        events.append(("switched", asyncio.current_task(), baud))

    async def sleep(delay: float, result: object = None) -> object:
        events.append(("sleep", asyncio.current_task(), delay))
        return await original_sleep(delay, result)

    monkeypatch.setattr(SerialLink, "write", write)
    monkeypatch.setattr(SerialLink, "set_baud", set_baud)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    clock = Clock(speed=SPEED)
    sim = SimBM1366Chain(serial="no-settle", seed=2, clock=clock, chips=1)
    await sim.start()
    dev, sub = await make("bm1366-uart", sim, clock, difficulty=1.0)
    try:
        await wait_for(sub, is_(Kind.STATE, state="online"))
        await wait_for(sub, lambda e: e.kind == Kind.NONCE, wall_s=30)  # the chip got work at 1 Mbaud
    finally:
        await dev.stop()
        await sim.stop()
    baud_frame = registers.bm1366_baud_frame(1_000_000)
    i = next(k for k, e in enumerate(events) if e[0] == "write" and e[2] == baud_frame)
    driver = events[i][1]
    j = next(k for k, e in enumerate(events) if k > i and e[0] == "switched")
    assert events[j][1] is driver and events[j][2] == 1_000_000
    between = [e for e in events[i + 1:j] if e[1] is driver]
    assert not [e for e in between if e[0] == "write"]  # nothing written in between
    slept = [float(e[2]) for e in between if e[0] == "sleep"]  # type: ignore[arg-type]
    assert max(slept, default=0.0) <= max(CMD_GAP_S, DRAIN_POLL_S), slept  # command gap and drain polls only
    assert sim.uart.stats.hangups >= 1 and sim.bytes_garbled == 0  # reset pulse first; no byte at a wrong speed


async def test_unread_register_replies_are_bounded() -> None:
    """A chain that keeps answering while nobody reads (a stuck chip, noise decoded as replies) must not grow the
    host's memory: the oldest unread replies go first, counted, and the newest are what a later read sees."""
    from asicrc.drivers.serial import UartChain, chip_ops
    from asicrc.drivers.serial.chain import MAX_PENDING_REGISTER_REPLIES
    from asicrc.native import codecs

    # the null: a chip's ordinary answers (a whole S9 chain's enumeration, 63 replies) are all kept
    quiet = UartChain(chip_ops("bm1366-uart"), Clock())
    quiet._on_bytes(b"".join(codecs.bm1366_register_reply(0x13660000, chip_addr=i) for i in range(63)), 0)
    assert quiet._registers.qsize() == 63 and quiet.stats.register_replies_dropped == 0

    chain = UartChain(chip_ops("bm1366-uart"), Clock())
    flood = 3 * MAX_PENDING_REGISTER_REPLIES
    burst = b"".join(codecs.bm1366_register_reply(0x13660000 | i, chip_addr=i % 256, reg=0) for i in range(flood))
    chain._on_bytes(burst, 0)
    assert chain._registers.qsize() == MAX_PENDING_REGISTER_REPLIES
    assert chain.stats.register_replies_dropped == flood - MAX_PENDING_REGISTER_REPLIES
    got = await chain.read_register_replies(1, 0.1, 0.1)
    assert got[0][0] == 0x13660000 | (flood - MAX_PENDING_REGISTER_REPLIES)  # the oldest kept, not the first sent
