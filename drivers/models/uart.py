"""A BM1366 or BM1387 chain driven directly over a UART, as a Device: nonces (verified, attributed to chip/core)
are nonce Events; telemetry is what the host can measure (hashrate from verified work, hardware errors, frequency,
ticket difficulty). The chips report no temperature over this link, so the thermal guard sees none: bench setups
must cool and watch the board themselves (documented in docs/drivers.md).
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from typing import Any

import numpy as np

from ..clock import Clock
from ..device import EnvelopeViolation
from ..events import FanOut, Kind, Source
from ..registry import ModelData
from ..serial.chain import UartChain
from ..serial.chips import chip_ops
from ..serial.link import SerialError
from ..tasks import cancel_and_wait
from .base import BaseDevice
from .device_spec import DeviceSpec, SpecError

DEFAULT_FREQ_MHZ = {"bm1366-uart": 485.0, "bm1387-uart": 400.0}
DEFAULT_DIFFICULTY = {"bm1366-uart": 256.0, "bm1387-uart": 64.0}


def random_header(version: int = 0x20000000, nbits: int = 0x1D00FFFF) -> bytes:
    """Fresh work with no pool: random prevhash and merkle root, now as ntime. The chip only searches it."""
    return (struct.pack("<I", version) + os.urandom(64) + struct.pack("<II", int(time.time()), nbits)
            + b"\0\0\0\0")


class UartChainDevice(BaseDevice):
    source = Source.SERIAL

    def __init__(self, spec: DeviceSpec, data: ModelData, *, fanout: FanOut, clock: Clock) -> None:
        super().__init__(spec, data, fanout=fanout, clock=clock)
        self.ops = chip_ops(spec.model, spec.baud)
        self.chain: UartChain | None = None
        self._job_task: asyncio.Task[None] | None = None
        self._last_work = 0.0
        self._last_t = 0.0
        self._last_dropped = 0
        self.start_frequency_mhz = spec.frequency_mhz or DEFAULT_FREQ_MHZ[spec.model]
        self.start_difficulty = spec.difficulty or DEFAULT_DIFFICULTY[spec.model]
        r = data.envelope.frequency_mhz
        if not r.low <= self.start_frequency_mhz <= r.high:
            raise SpecError(f"device.frequency_mhz: {self.start_frequency_mhz:g} is outside the {spec.model} "
                            f"envelope [{r.low:g}, {r.high:g}]")

    # ---- transport -------------------------------------------------------------------------------------------
    async def _connect(self) -> None:
        assert self.spec.serial_port is not None  # validated by DeviceSpec
        chain = UartChain(self.ops, self.clock, self._on_nonces, self.spec.difficulty_scale)
        await chain.open(self.spec.serial_port)
        try:
            chips = await chain.init(self.start_frequency_mhz, self.start_difficulty, self.spec.chips)
        except BaseException:
            chain.close()
            raise
        self.chain = chain
        self.identity = type(self.identity)(
            device_id=self.spec.device_id, model=self.data.model, serial=self.spec.serial_port, chips=chips,
            firmware=f"asicrc {self.ops.name} uart", extra={"baud": chain.baud},
        )
        self._settings["frequency_mhz"] = self.start_frequency_mhz
        self._settings["difficulty"] = self.start_difficulty
        self._last_t = self.clock.now()
        self._last_work = 0.0
        self._last_dropped = 0
        self._job_task = asyncio.create_task(self._feed_jobs(), name=f"jobs-{self.spec.device_id}")

    async def _disconnect(self) -> None:
        task, self._job_task = self._job_task, None
        await cancel_and_wait(task)
        if self.chain is not None:
            self.chain.close()
            self.chain = None

    async def _feed_jobs(self) -> None:
        while self.chain is not None and self.chain.link.alive:
            await self.chain.send_job(random_header())
            await self.clock.sleep(self.spec.job_interval_s)

    def _on_nonces(self, recs: np.ndarray, achieved: np.ndarray, valid: np.ndarray, chips: np.ndarray,
                   t_ns: int) -> None:
        for rec, diff, chip in zip(recs[valid], achieved[valid], chips[valid], strict=True):
            self.publish(Kind.NONCE, {
                "nonce": int(rec["nonce"]), "job_id": int(rec["job_id"]), "chip": int(chip),
                "core": int(rec["core"]), "version_bits": int(rec["version_bits"]), "achieved_diff": float(diff),
                "small_core": int(rec["small_core"]),
            }, t_ns=t_ns)

    async def _poll(self) -> dict[str, Any]:
        chain = self.chain
        if chain is None or not chain.link.alive:
            reason = chain.link.lost_reason if chain is not None else "not open"
            raise SerialError(f"serial port {self.spec.serial_port} lost: {reason}")
        now = self.clock.now()
        dt = max(now - self._last_t, 1e-9)
        work = chain.stats.work_diff
        hashrate = (work - self._last_work) * 2.0**32 / dt
        self._last_t, self._last_work = now, work
        dropped = chain.decoder_stats.bytes_dropped
        if dropped > self._last_dropped:
            self.fault("serial-garbage", f"{dropped - self._last_dropped} bytes dropped while resynchronizing "
                                         f"(bad CRC/garbage/partial frames)")
            self._last_dropped = dropped
        return {
            "hashrate_hs": hashrate, "hw_errors": chain.stats.hw_errors, "frequency_hz": chain.frequency_mhz * 1e6,
            "nonces": chain.stats.nonces, "ticket_difficulty": chain.difficulty, "chips": chain.chips,
            "chip_nonces": [chain.stats.per_chip.get(i, 0) for i in range(chain.chips)],
        }

    # ---- actuation -------------------------------------------------------------------------------------------
    async def _send(self, setting: str, value: float) -> None:
        chain = self.chain
        if chain is None or not chain.link.alive:
            raise SerialError(f"serial port {self.spec.serial_port} is not connected")
        if setting == "frequency_mhz":
            await chain.set_frequency(value)  # stepped by the chain (ESP-Miner's frequency transition)
        elif setting == "difficulty":
            if value < 1:
                raise EnvelopeViolation(self.spec.device_id, setting, value, "ticket-mask difficulty must be >= 1")
            await chain.set_difficulty(value)
        else:
            await super()._send(setting, value)

    async def _send_restart(self) -> None:
        """Re-run the whole bring-up (chain inactive, addresses, PLL, ticket mask, baud) on a reopened port."""
        await self._disconnect()
        self._set_online(False, "re-initializing the chain")
        await self._connect()
        self._set_online(True)
        self.publish(Kind.STATE, {"state": "restarted"})
